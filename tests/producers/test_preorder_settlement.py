"""Harvest pre-orders in the producers' statements: a pledge is settled once the harvest filled it, and a
pledge refunded before the harvest never reaches a statement (neither its sale nor its refund)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shop.aid.reconcile import reconcile
from shop.core import clock
from shop.core.db import atomic, db
from shop.orders.models import Order
from shop.preorders import harvest
from shop.producers import settlement
from shop.producers.models import StatementLine
from tests.orders.helpers import auth, buyer
from tests.preorders.helpers import PICKUP, PRICE, admin, campaign, close, pay_manually, settle_all


def _pledge_lines() -> list[StatementLine]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(StatementLine)
            .join(Order, Order.id == StatementLine.order_id)
            .where(Order.kind == "pledge")
            .order_by(StatementLine.id)
        )
    )


def test_a_pledge_is_settled_when_filled_and_a_refunded_one_never(seeded):
    client = seeded.test_client()
    c = campaign("HN-SETTLE", cap=3, per_buyer=1)
    orders = []
    for i in range(3):
        r = client.post(
            "/api/v1/campaigns/HN-SETTLE/pledges",
            json={"quantity": 1, "delivery": PICKUP},
            headers={**auth(buyer(f"settle-pledger{i}@x.cn")), "Idempotency-Key": f"settle-{i}"},
        )
        assert r.status_code == 201, r.get_json()
        orders.append(r.get_json()["order_id"])
    paid_at = close("HN-SETTLE")
    for i, order_id in enumerate(orders):
        pay_manually(order_id, at=paid_at.replace(microsecond=0) - timedelta(minutes=10 - i))

    month = clock.today().strftime("%Y-%m")
    settlement.run_settlement(month)
    assert _pledge_lines() == [], "paid but not yet filled: nothing to pay the producer yet"

    with atomic():
        harvest.record_harvest("HN-SETTLE", units=2, actor=admin(), lot="HN-S", best_before=None)
    settle_all(c.id)
    settlement.run_settlement(month)

    lines = _pledge_lines()
    assert sorted(line.order_id for line in lines) == sorted(orders[:2])  # the two paid first
    assert all(line.kind == "sale" and line.channel == "preorder" for line in lines)
    assert sum(line.amount_fen for line in lines) == 2 * PRICE
    settlement.run_settlement(month)
    assert len(_pledge_lines()) == 2, "a rerun settles nothing twice"
    run = reconcile(trigger="test")
    assert run.status == "ok", run.differences
