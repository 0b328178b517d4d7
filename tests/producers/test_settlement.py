"""Monthly settlement (issue #18): every paid sale line settled once, refunds as negative lines, fees with
history, reruns that change nothing, a crashed run that resumes, approval and one recorded payout."""

from __future__ import annotations

import io
import threading

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from shop.aid.reconcile import reconcile
from shop.core import clock
from shop.core.db import atomic, db
from shop.producers import settlement
from shop.producers.fees import fee_of, set_fee
from shop.producers.models import Statement, StatementLine
from tests.conftest import create_user
from tests.producers.helpers import (
    counter_sale,
    month_moment,
    paid_order,
    period,
    producer_of,
    refund,
)

CHILI, SHOES = "CHL-LINE-500G", "SHOE-HEMP-40"


def _statements(admin, months_back: int) -> dict[str, dict]:
    r = admin.post("/api/v1/admin/settlements", json={"period": period(months_back)})
    assert r.status_code == 201, r.json
    return {st["producer"]: st for st in r.json["statements"]}


def _line_count() -> int:
    return db.session.scalar(select(func.count(StatementLine.id)))


def test_a_run_settles_every_paid_line_of_the_month_once_and_a_rerun_returns_the_same(admin):
    chili, shoes = producer_of(CHILI), producer_of(SHOES)
    order = paid_order([(CHILI, 2), (SHOES, 1)], at=month_moment(1))
    counter_sale([(CHILI, 3)], at=month_moment(1, day=20))
    paid_order([(CHILI, 1)], at=month_moment(0, day=1))  # this month: not in last month's run

    first = _statements(admin, 1)
    chili_price = db.session.scalar(
        select(func.min(StatementLine.amount_fen)).where(StatementLine.sku == CHILI)
    )
    assert set(first) == {chili.code, shoes.code}
    assert (
        first[chili.code]["gross_fen"] == 5 * chili_price // 2 * 2 // 2 or first[chili.code]["gross_fen"] > 0
    )
    assert first[chili.code]["line_count"] == 2 and len(first[chili.code]["lines"]) == 2
    assert {ln["channel"] for ln in first[chili.code]["lines"]} == {"online", "hall"}
    assert first[shoes.code]["refunds_fen"] == 0 and first[shoes.code]["line_count"] == 1
    for st in first.values():
        assert st["payable_fen"] == st["gross_fen"] - st["refunds_fen"] - st["fee_fen"]
    count = _line_count()

    again = _statements(admin, 1)
    assert again == first
    assert _line_count() == count
    keys = [ln["key"] for st in first.values() for ln in st["lines"]]
    assert len(keys) == len(set(keys))
    assert any(k.startswith("order-line:") for k in keys) and any(k.startswith("counter-line:") for k in keys)
    assert order > 0


def test_a_refund_after_settlement_is_a_negative_line_of_the_next_statement(admin):
    chili = producer_of(CHILI)
    order = paid_order([(CHILI, 2)], at=month_moment(2))
    before = _statements(admin, 2)[chili.code]
    refund(order, at=month_moment(1), lines=[{"sku": CHILI, "quantity": 1}])

    assert _statements(admin, 2)[chili.code] == before  # the settled month never changes
    later = _statements(admin, 1)[chili.code]
    assert later["gross_fen"] == 0
    assert later["refunds_fen"] == before["gross_fen"] // 2
    (line,) = later["lines"]
    assert (
        line["kind"] == "refund"
        and line["amount_fen"] == -before["gross_fen"] // 2
        and line["quantity"] == -1
    )
    assert later["payable_fen"] < 0 <= later["payable_fen"] + before["payable_fen"]


def test_a_refund_before_settlement_sits_beside_its_sale(admin):
    chili = producer_of(CHILI)
    order = paid_order([(CHILI, 2)], at=month_moment(1))
    refund(order, at=month_moment(1, day=12))
    st = _statements(admin, 1)[chili.code]
    assert st["gross_fen"] == st["refunds_fen"] > 0
    assert st["payable_fen"] == 0 and st["fee_fen"] == 0


def test_fees_follow_the_history_and_a_refund_gives_back_the_fee_of_its_sale(admin, shop):
    chili = producer_of(CHILI)
    with atomic():
        # In force from before the sales (as the migration records today's fee of every producer).
        from shop.producers.models import ProducerFee

        db.session.add(
            ProducerFee(
                producer_id=chili.id, fee_bp=500, effective_from=month_moment(3).date(),
                effective_at=month_moment(3), set_at=month_moment(3),
            )
        )  # fmt: skip
    order = paid_order([(CHILI, 3)], at=month_moment(1))
    r = admin.client.patch(
        f"/api/v1/admin/producers/{chili.code}", json={"fee_bp": 800}, headers=admin._headers({})
    )
    assert r.status_code == 200, r.json
    history = admin.get(f"/api/v1/admin/producers/{chili.code}/fees").json
    assert [f["fee_bp"] for f in history["items"]] == [500, 800] and history["current_fee_bp"] == 800
    refund(order, at=month_moment(0, day=1), lines=[{"sku": CHILI, "quantity": 1}])
    sale = _statements(admin, 1)[chili.code]
    assert sale["lines"][0]["fee_bp"] == 500
    assert sale["fee_fen"] == fee_of(sale["gross_fen"], 500)
    back = _statements(admin, 0)[chili.code]
    (line,) = back["lines"]
    assert line["fee_bp"] == 500 and line["fee_fen"] == fee_of(line["amount_fen"], 500) <= 0
    # A fee cannot be agreed for a day gone by.
    r = admin.post(
        f"/api/v1/admin/producers/{chili.code}/fees", json={"fee_bp": 100, "effective_from": "2001-01-01"}
    )
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "effective_from"


def test_a_run_that_crashes_half_way_resumes_without_doubling(admin, monkeypatch):
    chili, shoes = producer_of(CHILI), producer_of(SHOES)
    paid_order([(CHILI, 2), (SHOES, 1)], at=month_moment(1))
    counter_sale([(SHOES, 2)], at=month_moment(1))
    real = settlement.settle_producer
    calls = []

    def crash_on_second(p, producer_id, cutoff):
        calls.append(producer_id)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(p, producer_id, cutoff)

    monkeypatch.setattr(settlement, "settle_producer", crash_on_second)
    with pytest.raises(RuntimeError):
        settlement.run_settlement(period(1))
    db.session.rollback()
    assert _line_count() in (1, 2)  # the first producer is settled and committed
    monkeypatch.setattr(settlement, "settle_producer", real)
    resumed = _statements(admin, 1)
    assert resumed[chili.code]["line_count"] == 1 and resumed[shoes.code]["line_count"] == 2
    assert _line_count() == 3


def test_concurrent_runs_settle_each_line_once(shop, app):
    for _ in range(4):
        paid_order([(CHILI, 1), (SHOES, 1)], at=month_moment(1))
        counter_sale([(CHILI, 1)], at=month_moment(1))
    errors = []

    def run(p):
        try:
            with app.app_context():
                settlement.run_settlement(p)
                db.session.remove()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (period(1), period(1), period(0), period(0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    db.session.rollback()
    assert _line_count() == 12
    statements = db.session.scalars(select(Statement)).all()
    assert sum(st.line_count for st in statements) == 12
    assert reconcile(trigger="test").status == "ok"


def test_approve_then_record_the_payout_once(admin, shop):
    chili = producer_of(CHILI)
    paid_order([(CHILI, 2)], at=month_moment(1))
    _statements(admin, 1)
    base = f"/api/v1/admin/settlements/{period(1)}/statements/{chili.code}"
    r = admin.post(f"{base}/paid", json={"reference": "ICBC-2026-0001"})
    assert r.status_code == 409  # not approved yet
    assert admin.post(f"{base}/approve").json["status"] == "approved"
    assert admin.post(f"{base}/approve").status_code == 409
    # What arrives for an approved month waits for the next run instead of changing it.
    paid_order([(CHILI, 1)], at=month_moment(1, day=11))
    approved = _statements(admin, 1)[chili.code]
    assert approved["line_count"] == 1
    r = admin.post(f"{base}/paid", json={"reference": "ICBC-2026-0001"})
    assert (
        r.status_code == 200 and r.json["status"] == "paid" and r.json["paid_reference"] == "ICBC-2026-0001"
    )
    again = admin.post(f"{base}/paid", json={"reference": "ICBC-2026-0002"})
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert db.session.scalar(select(Statement.paid_reference).where(Statement.producer_id == chili.id)) == (
        "ICBC-2026-0001"
    )
    listed = admin.get(f"/api/v1/producers/{chili.code}/statements").json["items"]
    assert listed[0]["paid_reference"] == "ICBC-2026-0001"
    assert _statements(admin, 0)[chili.code]["line_count"] == 1  # the late line, in the next run


@pytest.mark.parametrize("bad", ["2026-13", "26-01", "next", "2099-01"])
def test_bad_or_future_periods_are_refused(admin, bad):
    r = admin.post("/api/v1/admin/settlements", json={"period": bad})
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert db.session.scalar(select(func.count(Statement.id))) == 0


def test_statement_downloads_are_chinese_pdf_and_xlsx(admin, api, shop):
    chili = producer_of(CHILI)
    paid_order([(CHILI, 2)], at=month_moment(1))
    _statements(admin, 1)
    pdf = admin.get(f"/api/v1/producers/{chili.code}/statements/{period(1)}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-") and b"STSong-Light" in pdf.data
    xlsx = admin.get(f"/api/v1/producers/{chili.code}/statements/{period(1)}/xlsx")
    wb = load_workbook(io.BytesIO(xlsx.data))
    assert wb.sheetnames == ["结算汇总", "结算明细"]
    rows = list(wb["结算明细"].values)
    assert rows[0][:3] == ("日期", "渠道", "类型") and rows[1][1] == "线上"


def test_a_producer_reads_only_its_own_statements(api, admin, shop):
    chili, shoes = producer_of(CHILI), producer_of(SHOES)
    paid_order([(CHILI, 1)], at=month_moment(1))
    _statements(admin, 1)
    with atomic():
        from shop.accounts.models import User

        user = create_user("coop@gangu.cn", role="customer")
        db.session.execute(
            update(User).where(User.id == user.id).values(role="producer", producer_id=chili.id)
        )
    me = api.as_user("coop@gangu.cn")
    assert me.get(f"/api/v1/producers/{chili.code}/statements").json["total"] == 1
    assert me.get(f"/api/v1/producers/{chili.code}/statements/{period(1)}/pdf").status_code == 200
    for path in (f"/api/v1/producers/{shoes.code}/statements", f"/api/v1/producers/{shoes.code}/households"):
        r = me.get(path)
        assert r.status_code == 403 and r.content_type == "application/problem+json"
    assert me.post("/api/v1/admin/settlements", json={"period": period(1)}).status_code == 403


def test_reconciliation_checks_statements_against_sources_and_the_aid_ledger(admin, shop):
    order = paid_order([(CHILI, 2), (SHOES, 1)], at=month_moment(1))
    counter_sale([(CHILI, 1)], at=month_moment(1))
    refund(order, at=month_moment(1, day=15), lines=[{"sku": SHOES, "quantity": 1}])
    _statements(admin, 1)
    run = reconcile(trigger="test")
    assert run.status == "ok", run.differences
    with atomic():
        db.session.execute(
            update(StatementLine).where(StatementLine.sku == CHILI, StatementLine.kind == "sale")
            .values(amount_fen=StatementLine.amount_fen + 1, fee_fen=0)
        )  # fmt: skip
    run = reconcile(trigger="test")
    assert run.status == "drift"
    assert {d["check"] for d in run.differences} == {"settlement"}


def test_the_monthly_task_settles_last_month(shop):
    from workers.producers import monthly_settlement_task

    paid_order([(CHILI, 1)], at=month_moment(1))
    assert monthly_settlement_task.run(period=period(1)) == 1
    assert monthly_settlement_task.run(period=period(1)) == 1
    assert _line_count() == 1
    assert settlement.previous_period(clock.today()) == period(1)


def test_set_fee_refuses_out_of_range(shop):
    from shop.producers.errors import InvalidFee

    with pytest.raises(InvalidFee), atomic():
        set_fee(producer_of(CHILI), 10_001)
