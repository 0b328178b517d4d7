"""Unpaid orders expire and release exactly what they reserved; states only move forward."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core.db import atomic, db, utcnow
from shop.core.models import OutboxMessage
from shop.inventory.services import reconcile
from shop.orders.errors import BadTransition
from shop.orders.models import Order, OrderStatusChange
from shop.orders.services import expire_unpaid_orders
from shop.orders.states import TRANSITIONS, advance
from tests.conftest import create_user
from tests.orders.helpers import PICKUP, SHIP, auth, buyer, reserved


def _place(client, user, lines, delivery=PICKUP) -> dict:
    r = client.post("/api/v1/orders", json={"lines": lines, "delivery": delivery}, headers=auth(user))
    assert r.status_code == 201, r.json
    return r.json


def test_expiry_releases_exactly_what_was_reserved(seeded, client):
    b = buyer()
    before_hm = {sku: reserved(sku, "DL-HM") for sku in ("CHL-LINE-500G", "APL-HN-5KG")}
    o1 = _place(client, b, [{"sku": "CHL-LINE-500G", "quantity": 3}, {"sku": "APL-HN-5KG", "quantity": 2}])
    o2 = _place(client, b, [{"sku": "CHL-LINE-500G", "quantity": 1}], SHIP)
    keep = _place(client, b, [{"sku": "CHL-LINE-500G", "quantity": 5}])
    assert reserved("CHL-LINE-500G", "DL-HM") == 8 and reserved("CHL-LINE-500G", "GG-WH") == 1
    db.session.rollback()
    # Only the first two have run out: move the third's deadline far away.
    with atomic():
        db.session.get(Order, keep["id"]).reserved_until = utcnow() + timedelta(days=30)
    now = utcnow() + timedelta(days=3)
    assert expire_unpaid_orders(now=now) == 2
    assert (
        reserved("CHL-LINE-500G", "DL-HM") == 5 and reserved("APL-HN-5KG", "DL-HM") == before_hm["APL-HN-5KG"]
    )
    assert reserved("CHL-LINE-500G", "GG-WH") == 0
    statuses = {o.id: o.status for o in db.session.scalars(select(Order))}
    assert statuses == {o1["id"]: "expired", o2["id"]: "expired", keep["id"]: "pending_payment"}
    # Running the sweep again changes nothing.
    assert expire_unpaid_orders(now=now) == 0
    assert reserved("CHL-LINE-500G", "DL-HM") == 5 and reconcile() == []
    kinds = db.session.scalars(select(OutboxMessage.task)).all()
    assert kinds.count("shop.notifications.send") == 2
    from shop.notifications.models import Notification

    told = db.session.scalars(select(Notification.kind)).all()
    assert told == ["order_expired", "order_expired"]


def test_expiry_respects_reservation_minutes(seeded, client):
    settings = seeded.extensions["settings"]
    settings.MANUAL_RESERVATION_MINUTES = 15
    try:
        o = _place(client, buyer(), [{"sku": "CHL-LINE-500G", "quantity": 1}])
    finally:
        settings.MANUAL_RESERVATION_MINUTES = 48 * 60
    created = db.session.get(Order, o["id"]).created_at
    assert expire_unpaid_orders(now=created + timedelta(minutes=14)) == 0
    assert expire_unpaid_orders(now=created + timedelta(minutes=16)) == 1


def test_expire_task_is_scheduled_every_minute(app):
    celery_app = app.extensions["celery"]
    entry = celery_app.conf.beat_schedule["orders-expire-unpaid"]
    assert entry["task"] == "shop.orders.expire_unpaid" and entry["schedule"] == 60.0
    assert "shop.orders.expire_unpaid" in celery_app.tasks


def test_expire_task_runs_the_service(seeded, client):
    o = _place(client, buyer(), [{"sku": "CHL-LINE-500G", "quantity": 2}])
    with atomic():
        db.session.get(Order, o["id"]).reserved_until = utcnow() - timedelta(seconds=1)
    result = seeded.extensions["celery"].tasks["shop.orders.expire_unpaid"].apply()
    assert result.get() == 1 and reserved("CHL-LINE-500G", "DL-HM") == 0


def test_statuses_only_move_forward(seeded, client):
    o = _place(client, buyer(), [{"sku": "CHL-LINE-500G", "quantity": 1}])
    order = db.session.get(Order, o["id"])
    for bad in ("completed", "shipped", "refunded", "pending_payment"):
        with pytest.raises(BadTransition):
            advance(order, bad)
    db.session.rollback()
    for frm, targets in TRANSITIONS.items():
        assert "pending_payment" not in targets, frm
    assert not TRANSITIONS["cancelled"] and not TRANSITIONS["refunded"]


def test_two_concurrent_transitions_cannot_both_win(seeded, client):
    """Staff confirm a manual payment while the expiry sweep expires the same order: one wins."""
    staff = auth(create_user("op@x.cn", role="operator", locations=["DL-HM"]))
    outcomes = []
    for _ in range(4):
        o = _place(client, buyer(f"b{len(outcomes)}@x.cn"), [{"sku": "CHL-LINE-500G", "quantity": 1}])
        db.session.rollback()
        go = threading.Barrier(2)
        codes = {}

        def pay(order_id=o["id"], go=go, codes=codes):
            c = seeded.test_client()
            go.wait()
            codes["pay"] = c.post(
                f"/api/v1/orders/{order_id}/payments/manual", json={"method": "cash"}, headers=staff
            ).status_code

        def expire(go=go, codes=codes):
            with seeded.app_context():
                go.wait()
                codes["expired"] = expire_unpaid_orders(now=utcnow() + timedelta(days=30))

        threads = [threading.Thread(target=pay), threading.Thread(target=expire)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db.session.rollback()
        order = db.session.get(Order, o["id"])
        paid_entries = db.session.scalar(
            select(func.count()).select_from(AidEntry).where(AidEntry.source == order.reference_key)
        )
        if order.status == "paid":
            assert codes == {"pay": 200, "expired": 0} and paid_entries == 1
            assert order.reservation_state == "held"
        else:
            assert order.status == "expired" and codes["pay"] == 409 and codes["expired"] == 1
            assert paid_entries == 0 and order.reservation_state == "released"
        changes = db.session.scalars(
            select(OrderStatusChange.to_status).where(OrderStatusChange.order_id == order.id)
        ).all()
        assert changes == ["pending_payment", order.status]
        outcomes.append(order.status)
    assert reconcile() == []
    assert reserved("CHL-LINE-500G", "DL-HM") == outcomes.count("paid")
