"""The same pledge -> pay -> harvest -> fill/refund path on the embedded SQLite default (and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile as reconcile_aid
from shop.core.db import atomic, db
from shop.demo import seed_demo
from shop.inventory.services import reconcile as reconcile_stock
from shop.orders.services import DeliveryRequest
from shop.preorders import harvest, services
from shop.preorders.errors import CapReached
from tests.orders.helpers import buyer
from tests.preorders.helpers import PRICE, admin, campaign, close, pay_manually, pledge_orders, settle_all


def test_pledge_harvest_and_refund_on_both_databases(any_app):
    with atomic():
        seed_demo()
    c = campaign("EMB", cap=3, per_buyer=2)
    pickup = DeliveryRequest(type="pickup", location="DL-HM")
    with atomic():
        services.place_pledge(buyer("a@x.cn"), "EMB", 2, pickup)
    with atomic():
        services.place_pledge(buyer("b@x.cn"), "EMB", 1, pickup)
    try:
        with atomic():
            services.place_pledge(buyer("c@x.cn"), "EMB", 1, pickup)
        raise AssertionError("the cap must hold")
    except CapReached:
        pass
    t0 = close("EMB") - timedelta(minutes=10)
    for i, (_p, order) in enumerate(pledge_orders("EMB")):
        pay_manually(order.id, at=t0 + timedelta(seconds=i))
    with atomic():
        done = harvest.record_harvest("EMB", units=2, actor=admin())
    assert (done.allocated_units, done.refunded_units) == (2, 1)
    settle_all(c.id)
    rows = pledge_orders("EMB")
    assert [(p.quantity, o.status) for p, o in rows] == [(2, "paid"), (1, "refunded")]
    assert (
        db.session.scalar(select(func.sum(AidEntry.amount_fen)).where(AidEntry.channel == "subscription"))
        == 2 * PRICE
    )
    assert reconcile_stock() == []
    assert reconcile_aid(trigger="test").status == "ok"
