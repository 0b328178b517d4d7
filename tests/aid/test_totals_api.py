"""The totals API against a small known ledger: every figure and every breakdown, to the fen."""

from __future__ import annotations

from datetime import date

from tests.aid.conftest import CODE, YEAR
from tests.conftest import create_user


def _by_key(items: list[dict]) -> dict:
    return {i["key"]: (i["total_fen"], i["qualifying_fen"]) for i in items}


def test_totals_match_the_known_set_in_every_breakdown(officer_api, known_set):
    r = officer_api.get(f"/api/v1/aid/programmes/{CODE}/totals")
    assert r.status_code == 200, r.json
    t = r.json
    assert (t["from"], t["to"]) == (f"{YEAR}-01-01", f"{YEAR}-12-31")
    assert t["currency"] == "CNY" and t["target_fen"] == 5_000_000_000
    assert t["total_fen"] == 121300
    assert t["qualifying_fen"] == 113200
    assert t["non_qualifying_fen"] == 8100
    assert t["direct_purchase_fen"] == 98000
    assert t["helped_sales_fen"] == 15200
    assert t["progress"] == round(113200 / 5_000_000_000, 4)
    assert _by_key(t["by_channel"]) == {
        "online": (6800, 6800),
        "hall": (12900, 8400),
        "work_unit": (98000, 98000),
        "fair": (3600, 0),
    }
    assert [i["key"] for i in t["by_channel"]] == ["work_unit", "hall", "online", "fair"]  # biggest first
    assert {i["key"]: i["name"] for i in t["by_channel"]}["hall"] == "扶贫展卖馆"
    assert _by_key(t["by_category"]) == {
        "fruit": (6800, 6800),
        "chili": (8400, 8400),
        "vegetables": (4500, 0),
        "shoes": (98000, 98000),
        "pepper": (3600, 0),
    }
    producers = {
        i["code"]: (i["total_fen"], i["qualifying_fen"], i["linked_households"]) for i in t["by_producer"]
    }
    assert producers == {
        "huaniu-coop": (6800, 6800, 126),
        "xianjiao-coop": (8400, 8400, 210),
        "gaoyuan-coop": (4500, 0, 132),
        "mashoe-co": (98000, 98000, 180),
        "jiaofen-co": (3600, 0, 40),
    }
    assert _by_key(t["by_township"]) == {
        "安远镇": (6800, 6800),
        "磐安镇": (8400, 8400),
        "大石镇": (4500, 0),
        "礼辛镇": (98000, 98000),
        "六峰镇": (3600, 0),
    }
    assert _by_key(t["by_location"]) == {None: (104800, 104800), "DL-HM": (12900, 8400), "FAIR-TJ": (3600, 0)}
    months = _by_key(t["by_month"])
    assert len(months) == 12 and list(months) == sorted(months)
    assert months[f"{YEAR}-01"] == (13600, 13600)
    assert months[f"{YEAR}-02"] == (110900, 106400)
    assert months[f"{YEAR}-03"] == (-3200, -6800)  # the refund is dated the day of the refund
    assert all(months[f"{YEAR}-{m:02d}"] == (0, 0) for m in range(4, 13))
    # Only producers with counted (certified) sales; their registered households, each once.
    assert t["producers_reached"] == 3 and t["households_linked"] == 126 + 210 + 180
    assert t["products_reached"] == 3
    assert t["targets"] == [] and t["as_of"]
    # The breakdowns add up to the totals.
    for key in ("by_channel", "by_category", "by_producer", "by_township", "by_location", "by_month"):
        assert sum(i["total_fen"] for i in t[key]) == t["total_fen"], key
        assert sum(i["qualifying_fen"] for i in t[key]) == t["qualifying_fen"], key


def test_totals_for_a_date_range(officer_api, known_set):
    r = officer_api.get(f"/api/v1/aid/programmes/{CODE}/totals?from={YEAR}-02-01&to={YEAR}-02-28")
    assert r.status_code == 200
    t = r.json
    assert (t["total_fen"], t["qualifying_fen"], t["direct_purchase_fen"]) == (110900, 106400, 98000)
    assert [m["key"] for m in t["by_month"]] == [f"{YEAR}-02"]
    assert t["producers_reached"] == 2 and t["households_linked"] == 210 + 180


def test_sub_targets_per_channel_and_hall(officer_api, known_set):
    r = officer_api.client.patch(
        f"/api/v1/aid/programmes/{CODE}",
        json={"channel_targets": {"hall": 100000, "work_unit": 196000}, "location_targets": {"DL-HM": 16800}},
        headers={"Authorization": f"Bearer {officer_api.token}"},
    )
    assert r.status_code == 200, r.json
    assert {(t["kind"], t["key"], t["target_fen"]) for t in r.json["targets"]} == {
        ("channel", "hall", 100000),
        ("channel", "work_unit", 196000),
        ("location", "DL-HM", 16800),
    }
    t = officer_api.get(f"/api/v1/aid/programmes/{CODE}/totals").json
    got = {(x["kind"], x["key"]): (x["qualifying_fen"], x["progress"]) for x in t["targets"]}
    assert got == {
        ("channel", "hall"): (8400, 0.084),
        ("channel", "work_unit"): (98000, 0.5),
        ("location", "DL-HM"): (8400, 0.5),
    }
    # Replacing the channel targets keeps the hall target and drops the channels not given.
    officer_api.client.patch(
        f"/api/v1/aid/programmes/{CODE}",
        json={"channel_targets": {"hall": 50000}},
        headers={"Authorization": f"Bearer {officer_api.token}"},
    )
    targets = officer_api.get(f"/api/v1/aid/programmes/{CODE}").json["targets"]
    assert {(x["kind"], x["key"], x["target_fen"]) for x in targets} == {
        ("channel", "hall", 50000),
        ("location", "DL-HM", 16800),
    }


def test_programmes_list_and_create(officer_api, api):
    r = api.get("/api/v1/aid/programmes")
    assert r.status_code == 200
    assert r.json["items"][0]["code"] == CODE and r.json["items"][0]["currency"] == "CNY"
    body = {
        "code": f"DL-GG-{YEAR + 1}",
        "name": f"{YEAR + 1}年东丽区对口帮扶甘谷县消费帮扶",
        "name_en": f"Dongli–Gangu consumption aid {YEAR + 1}",
        "starts_on": f"{YEAR + 1}-01-01",
        "ends_on": f"{YEAR + 1}-12-31",
        "target_fen": 6_000_000_000,
        "channel_targets": {"online": 1_000_000_000},
    }
    headers = {"Idempotency-Key": "new-programme-1"}
    r = officer_api.post("/api/v1/aid/programmes", json=body, headers=headers)
    assert r.status_code == 201, r.json
    assert officer_api.post("/api/v1/aid/programmes", json=body, headers=headers).json == r.json  # replayed
    assert officer_api.post("/api/v1/aid/programmes", json=body).status_code == 409  # code taken
    overlap = {**body, "code": "OVERLAP", "starts_on": f"{YEAR}-12-01"}
    r = officer_api.post("/api/v1/aid/programmes", json=overlap)
    assert r.status_code == 409 and r.json["type"].endswith("programme-overlap")
    bad = {**body, "code": "BAD", "starts_on": f"{YEAR + 3}-02-01", "ends_on": f"{YEAR + 3}-01-01"}
    assert officer_api.post("/api/v1/aid/programmes", json=bad).status_code == 422
    bad = {
        **body,
        "code": "BAD",
        "starts_on": f"{YEAR + 3}-01-01",
        "ends_on": f"{YEAR + 3}-02-01",
        "target_fen": 0,
    }
    assert officer_api.post("/api/v1/aid/programmes", json=bad).status_code == 422
    bad = {
        **body,
        "code": "BAD2",
        "starts_on": f"{YEAR + 4}-01-01",
        "ends_on": f"{YEAR + 4}-02-01",
        "location_targets": {"NOPE": 5},
    }
    r = officer_api.post("/api/v1/aid/programmes", json=bad)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "location_targets.NOPE"


def test_bad_ranges_and_unknown_programmes_are_clear_errors(officer_api, known_set):
    base = f"/api/v1/aid/programmes/{CODE}/totals"
    r = officer_api.get("/api/v1/aid/programmes/NOPE/totals")
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    assert r.json["type"].endswith("programme-not-found")
    r = officer_api.get(f"{base}?from={YEAR}-03-01&to={YEAR}-02-01")
    assert r.status_code == 422 and r.json["type"].endswith("bad-date-range") and "after" in r.json["detail"]
    r = officer_api.get(f"{base}?from={YEAR - 1}-12-01")
    assert r.status_code == 422 and "programme period" in r.json["detail"]
    r = officer_api.get(f"{base}?to=9999-12-31")
    assert r.status_code == 422
    r = officer_api.get(f"{base}?from=yesterday")
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "from"


def test_public_progress_has_no_personal_data(api, known_set):
    r = api.get(f"/api/v1/aid/programmes/{CODE}/progress")
    assert r.status_code == 200
    assert set(r.json) == {"code", "name", "name_en", "starts_on", "ends_on", "target_fen", "total_fen", "currency",
                           "progress", "as_of"}  # fmt: skip
    assert r.json["total_fen"] == 113200  # the counted (certified) amount
    assert "canteen" not in r.get_data(as_text=True) and "机关食堂" not in r.get_data(as_text=True)
    assert api.get("/api/v1/aid/programmes/NOPE/progress").status_code == 404


def test_work_units_and_their_direct_purchases(officer_api, known_set):
    create_user("someone@example.cn")  # a consumer: not listed
    r = officer_api.get(f"/api/v1/aid/programmes/{CODE}/work-units")
    assert r.status_code == 200, r.json
    assert r.json["total"] == 1
    (unit,) = r.json["items"]
    assert unit["invoice_title"] == "东丽区机关食堂" and unit["tax_id"] == "12120110MB1234567X"
    assert (unit["direct_purchase_fen"], unit["qualifying_fen"], unit["purchases"]) == (98000, 98000, 1)
    assert unit["last_purchase_on"] == str(date(YEAR, 2, 20))
    r = officer_api.get(f"/api/v1/aid/programmes/{CODE}/work-units?from={YEAR}-03-01")
    assert r.json["items"][0]["direct_purchase_fen"] == 0
