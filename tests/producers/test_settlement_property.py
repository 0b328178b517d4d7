"""Property test of settlement (issue #18, done-when): random mixes of online orders, counter sales,
refunds before and after settlement, approvals, and repeated or interrupted runs over three months.

Whatever the mix: every sale line, counter line and refund part is settled exactly once; what the
statements hold equals the aid ledger and the sources, to the fen; statement totals add up; no sale line
and no net fee goes negative; a rerun returns the same statements; the aid reconciliation finds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile
from shop.core import clock
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.inventory.models import CounterSaleLine
from shop.orders.models import Order, OrderLine
from shop.payments.models import Refund
from shop.producers import settlement
from shop.producers.models import ProducerFee, Statement, StatementLine
from tests.producers.helpers import SKUS, counter_sale, month_moment, paid_order, period, producer_of, refund

items = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(1, 3)), min_size=1, max_size=3, unique_by=lambda t: t[0]
)
months = st.integers(0, 2)
step = st.one_of(
    st.tuples(st.just("order"), months, items),
    st.tuples(st.just("counter"), months, items),
    st.tuples(st.just("refund"), st.integers(0, 50), st.sampled_from(["line", "amount", "full"])),
    st.tuples(st.just("run"), months, st.just(None)),
    st.tuples(st.just("crash"), months, st.integers(1, 3)),
    st.tuples(st.just("approve"), st.integers(1, 2), st.integers(0, 5)),
)


def _at(months_back: int, day: int):
    return clock.now() - timedelta(seconds=30) if months_back == 0 else month_moment(months_back, day=day)


def _crash_run(p: str, after: int) -> None:
    real = settlement.settle_producer
    calls = []

    def crashing(*args):
        calls.append(1)
        if len(calls) > after:
            raise RuntimeError("killed")
        return real(*args)

    settlement.settle_producer = crashing
    try:
        settlement.run_settlement(p)
    except RuntimeError:
        db.session.rollback()
    finally:
        settlement.settle_producer = real


def _apply(steps, orders: list[tuple[int, int]]) -> None:
    for kind, a, b in steps:
        if kind == "order":
            orders.append((paid_order(b, at=_at(a, 5)), a))
        elif kind == "counter":
            counter_sale(b, at=_at(a, 6))
        elif kind == "refund" and orders:
            order_id, months_back = orders[a % len(orders)]
            when = _at(max(0, months_back - (a % 2)), 20) if months_back else clock.now()
            order = db.session.get(Order, order_id)
            db.session.refresh(order)
            try:
                if b == "line":
                    line = next((ln for ln in order.lines if ln.refunded_quantity < ln.quantity), None)
                    if line is not None:
                        refund(order_id, at=when, lines=[{"sku": line.sku, "quantity": 1}])
                elif b == "amount" and order.refundable_fen > 1:
                    refund(order_id, at=when, amount_fen=order.refundable_fen // 3 or 1)
                elif b == "full" and order.refundable_fen > 0:
                    refund(order_id, at=when)
            except ShopError:
                db.session.rollback()
        elif kind == "run":
            settlement.run_settlement(period(a))
        elif kind == "crash":
            _crash_run(period(a), b)
        elif kind == "approve":
            found = db.session.scalars(
                select(Statement)
                .where(Statement.period == period(a), Statement.status == "draft")
                .order_by(Statement.id)
            ).all()
            if found:
                st_ = found[b % len(found)]
                with atomic():
                    code = producer_of_id(st_.producer_id)
                    settlement.approve_statement(st_.period, code, actor=_admin())


def producer_of_id(producer_id: int) -> str:
    from shop.catalog.models import Producer

    return db.session.get(Producer, producer_id).code


def _admin():
    from tests.producers.helpers import staff_user

    return staff_user()


def _snapshot(p: str) -> list[tuple]:
    return [
        (s.producer_id, s.status, s.gross_fen, s.refunds_fen, s.fee_fen, s.payable_fen, s.line_count)
        for s in settlement.statements_of_period(p)
    ]


def _check_invariants() -> None:
    # Settle everything up to now: the oldest month first, then this month (never approved here).
    for months_back in (2, 1, 0):
        settlement.run_settlement(period(months_back))
    db.session.rollback()
    lines = db.session.scalars(select(StatementLine)).all()
    keys = [ln.source_key for ln in lines]
    assert len(keys) == len(set(keys))
    paid_lines = db.session.scalar(
        select(func.count(OrderLine.id)).join(Order).where(Order.paid_at.is_not(None))
    )
    counter_lines = db.session.scalar(select(func.count(CounterSaleLine.id)))
    refund_parts = sum(
        1
        for r in db.session.scalars(select(Refund))
        for part in r.lines or []
        if part.get("amount_fen", 0) > 0
    )
    assert sum(ln.kind == "sale" and ln.order_line_id is not None for ln in lines) == paid_lines
    assert sum(ln.counter_line_id is not None for ln in lines) == counter_lines
    assert sum(ln.kind == "refund" for ln in lines) == refund_parts
    # Statements = the aid ledger (sales less refunds), per producer, to the fen.
    settled = defaultdict(int)
    for ln in lines:
        settled[ln.producer_id] += ln.amount_fen
    ledger = dict(
        db.session.execute(
            select(AidEntry.producer_id, func.sum(AidEntry.amount_fen))
            .where(
                AidEntry.source.like("order:%")
                | AidEntry.source.like("counter-sale:%")
                | AidEntry.source.like("refund:%")
            )
            .group_by(AidEntry.producer_id)
        ).all()
    )
    assert {k: v for k, v in settled.items() if v} == {k: int(v) for k, v in ledger.items() if v}
    # Nothing negative that should not be: per order line, what is left and its fee.
    net, fee = defaultdict(int), defaultdict(int)
    for ln in lines:
        if ln.order_line_id is not None:
            net[ln.order_line_id] += ln.amount_fen
            fee[ln.order_line_id] += ln.fee_fen
    assert all(v >= 0 for v in net.values()) and all(v >= 0 for v in fee.values())
    for s in db.session.scalars(select(Statement)):
        mine = [ln for ln in lines if ln.statement_id == s.id]
        assert s.gross_fen == sum(ln.amount_fen for ln in mine if ln.kind == "sale") >= 0
        assert s.refunds_fen == -sum(ln.amount_fen for ln in mine if ln.kind == "refund") >= 0
        assert s.fee_fen == sum(ln.fee_fen for ln in mine)
        assert s.payable_fen == s.gross_fen - s.refunds_fen - s.fee_fen
    # A rerun returns the same statements and adds nothing.
    before = {m: _snapshot(period(m)) for m in (2, 1, 0)}
    for m in (2, 1, 0):
        settlement.run_settlement(period(m))
    assert {m: _snapshot(period(m)) for m in (2, 1, 0)} == before
    assert db.session.scalar(select(func.count(StatementLine.id))) == len(lines)
    run = reconcile(trigger="property")
    assert run.status == "ok", run.differences


def test_settlement_properties(shop):
    with atomic():
        for sku, bp in (("CHL-LINE-500G", 333), ("SHOE-HEMP-40", 1250)):
            at = month_moment(3)
            db.session.add(
                ProducerFee(
                    producer_id=producer_of(sku).id,
                    fee_bp=bp,
                    effective_from=at.date(),
                    effective_at=at,
                    set_at=at,
                )
            )

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(step, min_size=1, max_size=10))
    # Several partial refunds of one settled line: the fees given back never exceed the fee taken.
    @example(
        [("order", 1, [("CHL-LINE-500G", 1)]), ("run", 1, None)]
        + [("refund", 0, "amount"), ("run", 0, None)] * 2
        + [("refund", 0, "full")]
    )
    def scenario(steps):
        _apply(steps, [])
        _check_invariants()

    scenario()
