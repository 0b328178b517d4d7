"""Off-shop sales: evidence, two different officers, rejection with a reason, each evidence counted once."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select

from shop.aid.models import AidEntry, OffshopSale
from shop.core import clock
from shop.core.db import db
from tests.aid.conftest import CODE, YEAR
from tests.aid.helpers import ledger_sum, rollup_sum
from tests.conftest import create_user

DAY = min(clock.today(), date(YEAR, 5, 19))  # the Tianjin fair, or today early in the year


def _body(number: str = "FP-2026-0001", **over) -> dict:
    body = {
        "channel": "fair",
        "evidence_kind": "invoice",
        "evidence_number": number,
        "sold_on": DAY.isoformat(),
        "location": "FAIR-TJ",
        "lines": [{"sku": "CHL-LINE-500G", "quantity": 40, "amount_fen": 112000}],
        "note": "津洽会现场销售",
    }
    body.update(over)
    return body


def _totals(api) -> dict:
    return api.get(f"/api/v1/aid/programmes/{CODE}/totals").json


def test_a_second_officer_approves_and_only_then_it_counts(api, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    r = first.post("/api/v1/aid/offshop-sales", json=_body(), headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201, r.json
    sale = r.json
    assert sale["status"] == "pending" and sale["amount_fen"] == 112000 and sale["recorded_by"] == officers[0]
    assert sale["producer"]["code"] == "xianjiao-coop"
    assert _totals(first)["total_fen"] == 0  # pending sales do not count
    # The recorder cannot approve their own entry (four eyes).
    r = first.post(f"/api/v1/aid/offshop-sales/{sale['id']}/approve")
    assert r.status_code == 403 and r.json["type"].endswith("second-officer-required")
    r = second.post(f"/api/v1/aid/offshop-sales/{sale['id']}/approve")
    assert r.status_code == 200 and r.json["status"] == "approved" and r.json["decided_by"] == officers[1]
    assert (
        second.post(f"/api/v1/aid/offshop-sales/{sale['id']}/approve").status_code == 200
    )  # retry: same answer
    t = _totals(first)
    assert (t["total_fen"], t["qualifying_fen"], t["helped_sales_fen"]) == (112000, 112000, 112000)
    assert {i["key"]: i["total_fen"] for i in t["by_channel"]} == {"fair": 112000}
    assert {i["key"]: i["total_fen"] for i in t["by_location"]} == {"FAIR-TJ": 112000}
    entries = db.session.scalars(select(AidEntry)).all()
    assert [(e.source, e.day, e.quantity) for e in entries] == [(f"offline-sale:{sale['id']}", DAY, 40)]
    assert ledger_sum() == rollup_sum() == 112000
    # Rejecting an approved sale is refused; voiding reverses it.
    r = second.post(f"/api/v1/aid/offshop-sales/{sale['id']}/reject", json={"reason": "late"})
    assert r.status_code == 409
    r = first.post(f"/api/v1/aid/offshop-sales/{sale['id']}/void", json={"reason": "发票已红冲"})
    assert r.status_code == 200 and r.json["status"] == "voided" and r.json["void_reason"] == "发票已红冲"
    assert _totals(first)["total_fen"] == 0 and ledger_sum() == rollup_sum() == 0
    from shop.audit.models import AuditEvent

    trail = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("aid.%")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_email) for e in trail] == [
        ("aid.offshop_recorded", officers[0]),
        ("aid.offshop_approved", officers[1]),
        ("aid.offshop_voided", officers[0]),
    ]


def test_rejection_needs_a_reason_and_never_counts(api, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    sale = first.post("/api/v1/aid/offshop-sales", json=_body()).json
    r = second.post(f"/api/v1/aid/offshop-sales/{sale['id']}/reject", json={"reason": ""})
    assert r.status_code == 422
    r = second.post(
        f"/api/v1/aid/offshop-sales/{sale['id']}/reject", json={"reason": "凭证金额与现场记录不符"}
    )
    assert r.status_code == 200 and r.json["status"] == "rejected"
    assert r.json["decision_reason"] == "凭证金额与现场记录不符"
    assert second.post(f"/api/v1/aid/offshop-sales/{sale['id']}/approve").status_code == 409
    assert ledger_sum() == 0
    # A rejected record does not block entering the same evidence again, correctly.
    assert first.post("/api/v1/aid/offshop-sales", json=_body()).status_code == 201
    listed = first.get("/api/v1/aid/offshop-sales?status=rejected").json
    assert listed["total"] == 1 and listed["items"][0]["id"] == sale["id"]


def test_the_same_evidence_for_the_same_producer_counts_once(api, officers):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    assert first.post("/api/v1/aid/offshop-sales", json=_body("FP-2026-0001")).status_code == 201
    for number in ("FP-2026-0001", " fp-2026-0001 ", "ＦＰ－２０２６－０００１"):  # spaces, case, full-width
        r = second.post("/api/v1/aid/offshop-sales", json=_body(number))
        assert r.status_code == 409, number
        assert r.json["type"].endswith("duplicate-evidence") and "cannot count twice" in r.json["detail"]
    # Another producer's invoice may carry the same number.
    other = _body("FP-2026-0001", lines=[{"sku": "SHOE-HEMP-40", "quantity": 2, "amount_fen": 19600}])
    assert second.post("/api/v1/aid/offshop-sales", json=other).status_code == 201
    assert db.session.scalar(select(func.count()).select_from(OffshopSale)) == 2


def test_concurrent_entry_of_the_same_evidence_makes_one_record(seeded, officers):
    from shop.accounts.services import find_user_by_email
    from shop.aid.errors import DuplicateEvidence
    from shop.aid.offshop import OffshopLineInput, record_offshop_sale
    from shop.core.db import atomic

    app = seeded
    barrier = threading.Barrier(4)
    results = []

    def enter(email: str) -> None:
        with app.app_context():
            try:
                barrier.wait()
                with atomic():
                    record_offshop_sale(
                        find_user_by_email(email),
                        channel="charity_sale",
                        evidence_kind="receipt",
                        evidence_number="SJ-0042",
                        sold_on=DAY,
                        lines=[OffshopLineInput("SHOE-HEMP-40", 1, 9800)],
                    )
                results.append("ok")
            except DuplicateEvidence:
                results.append("409")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=enter, args=(officers[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409", "409", "409", "ok"]
    assert db.session.scalar(select(func.count()).select_from(OffshopSale)) == 1


def test_concurrent_approvals_count_once(seeded, officers):
    from shop.accounts.services import find_user_by_email
    from shop.aid.offshop import OffshopLineInput, approve_offshop_sale, record_offshop_sale
    from shop.core.db import atomic

    app = seeded
    create_user("admin@aid.gov.cn", role="admin")
    with atomic():
        sale_id = record_offshop_sale(
            find_user_by_email(officers[0]),
            channel="subscription",
            evidence_kind="contract",
            evidence_number="RG-7",
            sold_on=DAY,
            lines=[OffshopLineInput("APL-HN-5KG", 100, 680000)],
        ).id
    barrier = threading.Barrier(2)
    results = []

    def approve(email: str) -> None:
        with app.app_context():
            try:
                barrier.wait()
                with atomic():
                    approve_offshop_sale(find_user_by_email(email), sale_id)
                results.append("ok")
            except Exception as exc:
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=(e,)) for e in (officers[1], "admin@aid.gov.cn")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["OffshopSaleNotPending", "ok"]
    assert ledger_sum() == rollup_sum() == 680000


def test_bad_off_shop_sales_are_refused_clearly(api, officers):
    first = api.as_user(officers[0])
    cases = [
        (_body(channel="hall"), "channel"),
        (_body(evidence_number="   "), "evidence_number"),
        (_body(sold_on=date(YEAR + 1, 1, 1).isoformat()), "sold_on"),  # future
        (_body(sold_on="2001-01-01"), "sold_on"),  # no programme then
        (_body(lines=[]), "lines"),
        (_body(lines=[{"sku": "NOPE", "quantity": 1, "amount_fen": 100}]), "lines.0.sku"),
        (_body(lines=[{"sku": "CHL-LINE-500G", "quantity": 1, "amount_fen": 0}]), "lines.0.amount_fen"),
        (
            _body(
                lines=[
                    {"sku": "CHL-LINE-500G", "quantity": 1, "amount_fen": 100},
                    {"sku": "SHOE-HEMP-40", "quantity": 1, "amount_fen": 100},
                ]
            ),
            "lines",
        ),
        (_body(location="NOWHERE"), "location"),
        (_body(work_unit_id=12345), "work_unit_id"),
    ]
    for body, field in cases:
        r = first.post("/api/v1/aid/offshop-sales", json=body)
        assert r.status_code == 422, (field, r.json)
        assert r.json["errors"][0]["field"] == field, (field, r.json)
    assert db.session.scalar(select(func.count()).select_from(OffshopSale)) == 0
    assert first.get("/api/v1/aid/offshop-sales/999").status_code == 404
    assert first.post("/api/v1/aid/offshop-sales/999/approve").status_code == 404


def test_offline_work_unit_purchase_is_direct_and_counts_for_the_unit(api, officers, known_set):
    first, second = api.as_user(officers[0]), api.as_user(officers[1])
    body = _body(
        "DW-88", channel="work_unit", location=None, work_unit_id=known_set,
        lines=[{"sku": "SHOE-HEMP-40", "quantity": 5, "amount_fen": 49000}],
    )  # fmt: skip
    sale = first.post("/api/v1/aid/offshop-sales", json=body).json
    assert sale["buyer_name"] == "东丽区机关食堂"
    assert second.post(f"/api/v1/aid/offshop-sales/{sale['id']}/approve").status_code == 200
    units = first.get(f"/api/v1/aid/programmes/{CODE}/work-units").json["items"]
    assert units[0]["direct_purchase_fen"] == 98000 + 49000 and units[0]["purchases"] == 2
    assert _totals(first)["direct_purchase_fen"] == 98000 + 49000
