"""The partner-platform API: platforms, uploads polled to the end, pushes with a platform key, voids,
and the by-platform and per-fair breakdowns in the totals."""

from __future__ import annotations

import io
from datetime import date

from shop.aid import imports
from shop.core import clock

YEAR = clock.today().year
AID = f"/api/v1/aid/programmes/DL-GG-{YEAR}"
HEADER = "平台订单号,行号,销售日期,商品编码,数量,金额（分）\n"


def _csv(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


def _upload(officer_api, content: bytes, platform: str = "GG-PDD", name: str = "pdd.csv"):
    return officer_api.client.post(
        "/api/v1/aid/imports",
        data={"platform": platform, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {officer_api.token}"},
    )


def test_platforms_listed_with_the_demo_five(officer_api):
    r = officer_api.get("/api/v1/aid/platforms")
    assert r.status_code == 200
    codes = [p["code"] for p in r.json["items"]]
    assert len(codes) == 5 and "GG-TMALL" in codes
    assert all(p["name"] for p in r.json["items"])


def test_upload_poll_and_void(officer_api):
    day = date(YEAR, 1, 20).isoformat()
    r = _upload(
        officer_api,
        _csv(
            f"P-1,1,{day},CHL-LINE-500G,2,5600",
            f"P-1,2,{day},APL-HN-5KG,1,6800",
            f"P-1,2,{day},APL-HN-5KG,1,6800",
            f"P-2,1,{day},NOPE,1,100",
        ),
    )
    assert r.status_code == 202, r.json
    import_id = r.json["id"]
    assert r.json["status"] == "queued"
    imports.process_import(import_id)  # what the worker does with the queued message
    r = officer_api.get(f"/api/v1/aid/imports/{import_id}")
    body = r.json
    assert (body["status"], body["rows"], body["accepted"], body["duplicates"]) == ("done", 4, 2, 1)
    assert body["rejected"] == [{"row": 5, "reason": "unknown SKU 'NOPE'"}]

    totals = officer_api.get(f"{AID}/totals").json
    assert {c["key"]: c["total_fen"] for c in totals["by_channel"]}["partner_platform"] == 12400
    by_platform = {p["key"]: p for p in totals["by_platform"]}
    assert by_platform["GG-PDD"]["total_fen"] == 12400
    assert by_platform["GG-PDD"]["imports"] == 1

    rejected = officer_api.get(f"/api/v1/aid/imports/{import_id}/rejected.csv")
    assert rejected.status_code == 200
    assert "NOPE" in rejected.get_data(as_text=True)

    r = officer_api.post(f"/api/v1/aid/imports/{import_id}/void", json={"reason": "test file"})
    assert r.status_code == 200 and r.json["voided"] is True
    totals = officer_api.get(f"{AID}/totals").json
    assert {c["key"]: c["total_fen"] for c in totals["by_channel"]}.get("partner_platform", 0) == 0


def test_upload_refuses_bad_files_before_queueing(officer_api):
    r = _upload(officer_api, b"a,b\n1,2\n")
    assert r.status_code == 422
    assert r.content_type == "application/problem+json"
    assert {e["field"] for e in r.json["errors"]} >= {"file.sku", "file.line"}
    r = _upload(officer_api, _csv("x"), name="sales.txt")
    assert r.status_code == 422
    r = _upload(officer_api, "订单".encode("gbk") + b"\n", name="gbk.csv")
    assert r.status_code == 422
    r = _upload(officer_api, _csv("x"), platform="NO-SUCH")
    assert r.status_code == 404
    assert officer_api.get("/api/v1/aid/imports").json["total"] == 0


def test_platform_pushes_with_its_key_counted_once(officer_api):
    key = officer_api.post("/api/v1/aid/platforms/GG-DY/api-key").json["api_key"]
    day = date(YEAR, 2, 1).isoformat()
    rows = [
        {"platform_order_id": "DY-9", "line": 1, "sold_on": day, "sku": "CHL-OIL-250G", "quantity": 3,
         "amount_fen": 6600},
        {"platform_order_id": "DY-9", "line": 2, "sold_on": "yesterday", "sku": "CHL-OIL-250G", "quantity": 1,
         "amount_fen": 2200},
    ]  # fmt: skip
    client = officer_api.client
    r = client.post("/api/v1/aid/platforms/GG-DY/sales", json={"rows": rows}, headers={"X-Platform-Key": key})
    assert r.status_code == 200, r.json
    assert (r.json["accepted"], r.json["duplicates"], len(r.json["rejected"])) == (1, 0, 1)
    again = client.post(
        "/api/v1/aid/platforms/GG-DY/sales", json={"rows": rows}, headers={"X-Platform-Key": key}
    )
    assert (again.json["accepted"], again.json["duplicates"]) == (0, 1)
    wrong = client.post(
        "/api/v1/aid/platforms/GG-JD/sales", json={"rows": rows}, headers={"X-Platform-Key": key}
    )
    assert wrong.status_code == 401
    bad = client.post(
        "/api/v1/aid/platforms/GG-DY/sales", json={"rows": rows}, headers={"X-Platform-Key": "x"}
    )
    assert bad.status_code == 401


def test_platform_limited_to_its_producers(officer_api):
    r = officer_api.post(
        "/api/v1/aid/platforms",
        json={"code": "COOP-SHOP", "name": "合作社小店", "operator": "某合作社", "producers": ["NOPE"]},
    )
    assert r.status_code == 422
    from shop.catalog.models import Producer, Product, Variant
    from shop.core.db import db

    variant = db.session.query(Variant).filter_by(sku="CHL-LINE-500G").one()
    own = db.session.get(Producer, db.session.get(Product, variant.product_id).producer_id).code
    r = officer_api.post(
        "/api/v1/aid/platforms", json={"code": "COOP-SHOP", "name": "合作社小店", "producers": [own]}
    )
    assert r.status_code == 201 and r.json["producers"] == [own]
    day = date(YEAR, 1, 20).isoformat()
    r = _upload(
        officer_api,
        _csv(f"C-1,1,{day},CHL-LINE-500G,1,2800", f"C-1,2,{day},SHOE-HEMP-40,1,9800"),
        "COOP-SHOP",
    )
    imp = imports.process_import(r.json["id"])
    assert (imp.accepted, imp.rejected_count) == (1, 1)
