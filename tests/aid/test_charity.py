"""Charity sales (义卖): four eyes, goods part counted under channel charity, donations apart, counted once."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from sqlalchemy import func, select

from shop.aid import reconcile as rec
from shop.aid.models import AidEntry, CharitySale
from shop.core import clock
from shop.core.db import db
from tests.aid.conftest import CODE, YEAR
from tests.aid.helpers import ledger_sum, rollup_sum

DAY = min(clock.today(), date(YEAR, 5, 19))
URL = "/api/v1/aid/charity-sales"


def _body(evidence: str = "SJ-2026-001", **over) -> dict:
    body = {
        "item": "国画《甘谷山水》",
        "amount_fen": 500000,
        "donated_fen": 300000,
        "producer": "xianjiao-coop",
        "sold_on": DAY.isoformat(),
        "evidence": evidence,
        "buyer": "东丽区某单位",
    }
    body.update(over)
    return body


def _totals(api) -> dict:
    return api.get(f"/api/v1/aid/programmes/{CODE}/totals").json


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(CharitySale))


def test_approved_by_another_officer_counts_once_under_charity_with_the_donation_apart(api, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    r = first.post(URL, json=_body(), headers={"Idempotency-Key": "c1"})
    assert r.status_code == 201, r.json
    sale = r.json
    assert (sale["status"], sale["goods_fen"], sale["channel"]) == ("pending", 200000, "charity")
    assert sale["producer"]["code"] == "xianjiao-coop" and sale["recorded_by"] == officers[0]
    # The same request replayed with its key answers the same record, nothing more is stored.
    again = first.post(URL, json=_body(), headers={"Idempotency-Key": "c1"})
    assert again.status_code == 201 and again.json["id"] == sale["id"] and _count() == 1
    assert _totals(first)["total_fen"] == 0  # pending: nothing counted
    r = first.post(f"{URL}/{sale['id']}/approve")
    assert r.status_code == 403 and r.json["type"].endswith("second-officer-required")
    r = second.post(f"{URL}/{sale['id']}/approve")
    assert r.status_code == 200 and r.json["status"] == "approved" and r.json["decided_by"] == officers[1]
    assert second.post(f"{URL}/{sale['id']}/approve").status_code == 200  # retried: same answer
    t = _totals(first)
    assert t["total_fen"] == 200000  # the goods part only
    assert {i["key"]: i["total_fen"] for i in t["by_channel"]} == {"charity": 200000}
    assert t["charity"] == {"sales_fen": 200000, "donated_fen": 300000, "count": 1}
    entries = db.session.scalars(select(AidEntry)).all()
    assert [(e.source, e.channel, e.amount_fen, e.day) for e in entries] == [
        (f"charity-sale:{sale['id']}", "charity", 200000, DAY)
    ]
    assert ledger_sum() == rollup_sum() == 200000
    run = rec.reconcile(trigger="test")
    assert run.status == "ok" and "charity" in run.checkers, run.differences
    # Listing and reading back.
    listed = first.get(f"{URL}?status=approved").json
    assert [i["id"] for i in listed["items"]] == [sale["id"]] and listed["total"] == 1
    got = first.get(f"{URL}/{sale['id']}").json
    assert (got["donated_fen"], got["evidence"], got["buyer"]) == (300000, "SJ-2026-001", "东丽区某单位")
    # Void reverses the goods part; the donation leaves the report too.
    r = first.post(f"{URL}/{sale['id']}/void", json={"reason": "收据作废"})
    assert r.status_code == 200 and r.json["status"] == "voided"
    t = _totals(first)
    assert t["total_fen"] == 0 and t["charity"] == {"sales_fen": 0, "donated_fen": 0, "count": 0}
    assert ledger_sum() == rollup_sum() == 0
    assert rec.reconcile(trigger="test").status == "ok"
    # Voided evidence may be entered again correctly.
    assert first.post(URL, json=_body(), headers={"Idempotency-Key": "c2"}).status_code == 201


def test_a_cause_instead_of_a_producer_and_an_all_donation_sale(api, officers):
    from shop.aid.models import CHARITY_CAUSE_PRODUCER_CODE

    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    body = _body("SJ-2", producer=None, cause="甘谷县助学")
    del body["producer"]
    a = first.post(URL, json=body, headers={"Idempotency-Key": "a"}).json
    b = first.post(
        URL, json=_body("SJ-3", donated_fen=500000), headers={"Idempotency-Key": "b"}
    ).json  # all donation
    assert a["producer"] is None and a["cause"] == "甘谷县助学"
    for s in (a, b):
        assert second.post(f"{URL}/{s['id']}/approve").status_code == 200
    entries = db.session.scalars(select(AidEntry)).all()
    assert len(entries) == 1 and entries[0].amount_fen == 200000
    assert entries[0].qualifying is False  # a cause holds no aid certificate
    from shop.catalog.models import Producer

    assert db.session.get(Producer, entries[0].producer_id).code == CHARITY_CAUSE_PRODUCER_CODE
    t = _totals(first)
    assert t["charity"] == {"sales_fen": 200000, "donated_fen": 800000, "count": 2}
    assert t["total_fen"] == 200000 and t["qualifying_fen"] == 0
    assert rec.reconcile(trigger="test").status == "ok"
    # Voiding the all-donation sale reverses nothing (there was nothing) and stays at zero drift.
    assert first.post(f"{URL}/{b['id']}/void", json={"reason": "x"}).status_code == 200
    assert rec.reconcile(trigger="test").status == "ok"


def test_bad_input_is_refused_and_nothing_is_stored(api, officers):
    first = api.as_user(officers[0])
    cases = [
        (_body(donated_fen=500001), "donated_fen"),
        (_body(amount_fen=-5), "amount_fen"),
        (_body(donated_fen=-1), "donated_fen"),
        (_body(amount_fen=0), "amount_fen"),
        (_body(sold_on=(clock.today() + timedelta(days=1)).isoformat()), "sold_on"),
        (_body(producer="no-such-producer"), "producer"),
        (_body(producer="_charity-cause"), "producer"),
        (_body(evidence="   "), "evidence"),
        (_body(item=""), "item"),
        (_body(sold_on="1990-01-01"), "sold_on"),
    ]
    for i, (body, field) in enumerate(cases):
        r = first.post(URL, json=body, headers={"Idempotency-Key": f"bad-{i}"})
        assert r.status_code == 422, (field, r.json)
        assert field in str(r.json), (field, r.json)
    assert _count() == 0
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 0


def test_rejection_needs_a_reason_and_another_officer(api, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    sale = first.post(URL, json=_body(), headers={"Idempotency-Key": "r"}).json
    assert first.post(f"{URL}/{sale['id']}/reject", json={"reason": "no"}).status_code == 403
    assert second.post(f"{URL}/{sale['id']}/reject", json={"reason": ""}).status_code == 422
    r = second.post(f"{URL}/{sale['id']}/reject", json={"reason": "收据不清"})
    assert r.status_code == 200 and r.json["status"] == "rejected"
    assert second.post(f"{URL}/{sale['id']}/approve").status_code == 409
    assert first.post(f"{URL}/{sale['id']}/void", json={"reason": "x"}).status_code == 409
    assert _totals(first)["total_fen"] == 0 and ledger_sum() == 0
    assert first.get(f"{URL}/999999").status_code == 404


def test_evidence_is_normalised(api, officers):
    first = api.as_user(officers[0])
    assert first.post(URL, json=_body("sj 2026-9"), headers={"Idempotency-Key": "n1"}).status_code == 201
    r = first.post(URL, json=_body("ＳＪ２０２６-９"), headers={"Idempotency-Key": "n2"})
    assert r.status_code == 409 and r.json["type"].endswith("duplicate-evidence")
    assert _count() == 1


def test_concurrent_entry_of_the_same_evidence_makes_one_record(seeded, officers):
    from shop.accounts.services import find_user_by_email
    from shop.aid.charity import record_charity_sale
    from shop.aid.errors import DuplicateCharityEvidence
    from shop.core.db import atomic

    app = seeded
    barrier = threading.Barrier(4)
    results = []

    def enter(email: str) -> None:
        with app.app_context():
            try:
                barrier.wait()
                with atomic():
                    record_charity_sale(
                        find_user_by_email(email),
                        item="书法《厚德载物》",
                        amount_fen=100000,
                        donated_fen=50000,
                        sold_on=DAY,
                        evidence="SJ-0042",
                    )
                results.append("ok")
            except DuplicateCharityEvidence:
                results.append("409")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=enter, args=(officers[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409", "409", "409", "ok"]
    assert _count() == 1


def test_concurrent_first_approvals_create_the_hidden_product_once(seeded, officers):
    """Two approvals racing on an empty catalogue entry: one hidden product, both counted once each."""
    from shop.accounts.services import find_user_by_email
    from shop.aid.charity import approve_charity_sale, record_charity_sale
    from shop.catalog.models import Product, Variant
    from shop.core.db import atomic
    from tests.conftest import create_user

    app = seeded
    create_user("admin@aid.gov.cn", role="admin")
    ids = []
    with atomic():
        for n in ("A-1", "A-2"):
            ids.append(
                record_charity_sale(
                    find_user_by_email(officers[0]),
                    item=n,
                    amount_fen=1000,
                    donated_fen=0,
                    sold_on=DAY,
                    evidence=n,
                ).id
            )
    barrier = threading.Barrier(2)
    results = []

    def approve(email: str, sale_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                with atomic():
                    approve_charity_sale(find_user_by_email(email), sale_id)
                results.append("ok")
            except Exception as exc:  # pragma: no cover - the assertion shows it
                results.append(repr(exc))
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=approve, args=(e, i))
        for e, i in zip((officers[1], "admin@aid.gov.cn"), ids, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ok", "ok"]
    assert (
        db.session.scalar(select(func.count()).select_from(Variant).where(Variant.sku == "_CHARITY-ITEM"))
        == 1
    )
    assert ledger_sum() == rollup_sum() == 2000
    assert rec.reconcile(trigger="test").status == "ok"
    product = db.session.scalar(select(Product).where(Product.slug == "_charity-item"))
    assert product.active is False


def test_the_hidden_charity_product_never_reaches_the_storefront(api, client, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    sale = first.post(URL, json=_body(), headers={"Idempotency-Key": "h"}).json
    assert second.post(f"{URL}/{sale['id']}/approve").status_code == 200
    products = client.get("/api/v1/products?per_page=100").get_json()
    assert products and all("_charity" not in str(p.get("slug", "")) for p in products["items"])
    assert "义卖品" not in client.get("/api/v1/products?q=义卖").get_data(as_text=True)
    from shop.catalog.models import Product

    hidden = db.session.scalar(select(Product.id).where(Product.slug == "_charity-item"))
    assert hidden is not None and client.get(f"/api/v1/products/{hidden}").status_code == 404
    categories = client.get("/api/v1/categories").get_data(as_text=True)
    assert "_charity" not in categories
    page = client.get("/").get_data(as_text=True)
    assert "_charity" not in page and "义卖品" not in page
    assert "Charity-sale cause" not in client.get("/api/v1/producers").get_data(as_text=True)


def test_officers_only(api, officers):
    from tests.conftest import create_user

    create_user("buyer@example.com")
    buyer = api.as_user("buyer@example.com")
    assert api.post(URL, json=_body()).status_code == 401
    assert buyer.post(URL, json=_body(), headers={"Idempotency-Key": "x"}).status_code == 403
    assert buyer.get(URL).status_code == 403
    assert _count() == 0


def test_the_xlsx_summary_has_the_charity_lines(api, officers):
    import io

    from openpyxl import load_workbook

    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    sale = first.post(URL, json=_body(), headers={"Idempotency-Key": "x1"}).json
    second.post(f"{URL}/{sale['id']}/approve")
    r = first.client.get(
        f"/api/v1/aid/programmes/{CODE}/export?format=xlsx",
        headers={"Authorization": f"Bearer {first.token}"},
    )
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data), read_only=True)
    rows = {row[0]: row[1] for row in wb.worksheets[0].iter_rows(values_only=True) if row and row[0]}
    assert float(rows["义卖捐赠部分（元，不计入帮扶）"]) == 3000
    assert float(rows["义卖货款（元，已计入帮扶）"]) == 2000
    assert rows["义卖成交（件）"] == 1


def test_the_officer_page_records_shows_errors_beside_the_field_and_a_second_officer_approves(app, officers):
    import re

    from tests.aid.test_pages import _csrf, _login

    first, second = app.test_client(), app.test_client()
    _login(first, officers[0])
    page = first.get("/aid/charity").get_data(as_text=True)
    assert 'id="charity-form"' in page and "style=" not in page and "登记义卖" in page
    form = {
        "csrf_token": _csrf(page),
        "item": "书法《厚德载物》",
        "buyer": "张先生",
        "amount": "1,000.00",
        "donated": "1200",
        "producer": "xianjiao-coop",
        "cause": "",
        "evidence_kind": "receipt",
        "evidence": "YM-PAGE-1",
        "sold_on": DAY.isoformat(),
        "note": "",
    }
    r = first.post("/aid/charity", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="donated_fen-error"' in html and "不能超过成交金额" in html
    assert 'value="书法《厚德载物》"' in html  # what was typed stays
    assert _count() == 0
    form["donated"] = "600"
    assert first.post("/aid/charity", data=form).status_code == 302
    page = first.get("/aid/charity").get_data(as_text=True)
    assert "YM-PAGE-1" in page and "须由另一位专员审核" in page
    _login(second, officers[1])
    page = second.get("/aid/charity").get_data(as_text=True)
    sale_id = re.search(r"/aid/charity/(\d+)/approve", page).group(1)
    assert second.post(f"/aid/charity/{sale_id}/approve", data={"csrf_token": _csrf(page)}).status_code == 302
    html = second.get("/aid/").get_data(as_text=True)
    assert 'id="total">¥400.00' in html and 'id="charity-donated">¥600.00' in html


def test_the_page_refuses_the_same_evidence_beside_the_field(app, officers):
    from tests.aid.test_pages import _csrf, _login

    first = app.test_client()
    _login(first, officers[0])
    page = first.get("/aid/charity").get_data(as_text=True)
    form = {
        "csrf_token": _csrf(page),
        "item": "扇面",
        "amount": "100",
        "donated": "0",
        "evidence_kind": "receipt",
        "evidence": "YM-DUP",
        "sold_on": DAY.isoformat(),
    }
    assert first.post("/aid/charity", data=form).status_code == 302
    r = first.post("/aid/charity", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="evidence-error"' in html and "不能重复计入" in html
    assert _count() == 1


def test_the_hidden_charity_variant_cannot_be_used_for_an_off_shop_sale(api, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    sale = first.post(URL, json=_body(), headers={"Idempotency-Key": "o1"}).json
    second.post(f"{URL}/{sale['id']}/approve")  # creates the hidden variant
    body = {
        "channel": "charity_sale",
        "evidence_kind": "receipt",
        "evidence_number": "OX-1",
        "sold_on": DAY.isoformat(),
        "lines": [{"sku": "_CHARITY-ITEM", "quantity": 1, "amount_fen": 100}],
    }
    r = first.post("/api/v1/aid/offshop-sales", json=body, headers={"Idempotency-Key": "o2"})
    assert r.status_code == 422
    from tests.aid.test_pages import _login

    _login(first.client, officers[0])
    page = first.client.get("/aid/offshop").get_data(as_text=True)
    assert 'id="offshop-form"' in page and "CHL-LINE-500G" in page and "_CHARITY-ITEM" not in page


def test_charity_rules_on_both_databases(any_app):
    """The embedded SQLite default keeps the same rules: evidence once, four eyes, donation apart."""
    import pytest
    from sqlalchemy import text

    from shop.accounts.services import find_user_by_email
    from shop.aid.charity import approve_charity_sale, record_charity_sale, void_charity_sale
    from shop.aid.errors import DuplicateCharityEvidence, SecondOfficerRequired
    from shop.aid.programmes import get_programme
    from shop.aid.reports import programme_totals, resolve_range
    from shop.core.db import atomic
    from shop.demo import seed_demo
    from tests.conftest import create_user

    with atomic():
        seed_demo()
    create_user("a@aid.gov.cn", role="aid_officer")
    create_user("b@aid.gov.cn", role="aid_officer")
    a, b = find_user_by_email("a@aid.gov.cn"), find_user_by_email("b@aid.gov.cn")
    args = {"item": "国画", "amount_fen": 10000, "donated_fen": 4000, "sold_on": DAY, "evidence": "SJ-1"}
    with atomic():
        sale_id = record_charity_sale(a, producer_code="xianjiao-coop", **args).id
    with pytest.raises(DuplicateCharityEvidence), atomic():
        record_charity_sale(b, **{**args, "evidence": "sj-1"})
    with pytest.raises(SecondOfficerRequired), atomic():
        approve_charity_sale(a, sale_id)
    with pytest.raises(Exception, match="donation_within_amount"), atomic():
        db.session.execute(text(f"UPDATE aid_charity_sale SET donated_fen = 20000 WHERE id = {sale_id}"))
    with atomic():
        approve_charity_sale(b, sale_id)
    prog = get_programme(CODE)
    t = programme_totals(prog, resolve_range(prog, None, None))
    assert t["charity"] == {"sales_fen": 6000, "donated_fen": 4000, "count": 1}
    assert {i["key"]: i["total_fen"] for i in t["by_channel"]}.get("charity") == 6000
    with atomic():
        void_charity_sale(a, sale_id, reason="作废")
    assert rec.reconcile(trigger="test").status == "ok"
