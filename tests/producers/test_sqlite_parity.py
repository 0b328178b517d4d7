"""Settlement on the embedded SQLite default as on PostgreSQL: the same lines, once, and the same totals."""

from __future__ import annotations

from sqlalchemy import func, select

from shop.aid.reconcile import reconcile
from shop.core.db import atomic, db
from shop.demo import seed_demo
from shop.producers import settlement
from shop.producers.models import StatementLine
from tests.producers.helpers import counter_sale, month_moment, paid_order, period, refund, stock_everything


def test_settlement_runs_the_same_on_both_databases(any_app):
    with atomic():
        seed_demo()
    stock_everything()
    order = paid_order([("CHL-LINE-500G", 2), ("SHOE-HEMP-40", 1)], at=month_moment(2))
    counter_sale([("CHL-LINE-500G", 1)], at=month_moment(2, day=20))
    first = [(s.producer_id, s.gross_fen, s.line_count) for s in settlement.run_settlement(period(2))]
    refund(order, at=month_moment(1), lines=[{"sku": "SHOE-HEMP-40", "quantity": 1}])
    assert [(s.producer_id, s.gross_fen, s.line_count) for s in settlement.run_settlement(period(2))] == first
    (later,) = settlement.run_settlement(period(1))
    assert later.gross_fen == 0 and later.refunds_fen > 0 and later.payable_fen == -later.refunds_fen
    assert db.session.scalar(select(func.count(StatementLine.id))) == 4
    assert reconcile(trigger="test").status == "ok"
