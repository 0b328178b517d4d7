"""Missed webhooks: the beat job asks Stripe (the stand-in) about payments still pending and applies
them exactly as the webhook would, once, whichever of the sync and a late real webhook comes first."""

from datetime import time, timedelta

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core import clock
from shop.core.db import db, utcnow
from shop.orders.models import Order, order_reference
from shop.payments.models import Payment, PaymentEvent
from shop.payments.sync import sync_stale_payments
from tests.orders.helpers import auth, buyer, order_body
from tests.payments.conftest import deliver, intent_event

LATER = timedelta(minutes=11)  # past STALE_PAYMENT_MINUTES (10)


def _order_with_intent(client, user):
    order = client.post("/api/v1/orders", json=order_body(quantity=2), headers=auth(user)).json
    intent = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(user)).json
    return order, intent["payment_intent"]


def _status(order_id):
    db.session.rollback()
    return db.session.get(Order, order_id).status


def test_a_paid_intent_without_webhook_is_applied_once(stripe_shop, stripe_api, client):
    order, intent = _order_with_intent(client, buyer())
    stripe_api.settle(intent)
    assert sync_stale_payments(now=utcnow()) == {}  # too fresh: the webhook may still come
    assert sync_stale_payments(now=utcnow() + LATER) == {"paid": 1}
    assert _status(order["id"]) == "paid"
    event = db.session.scalar(select(PaymentEvent))
    assert event.event_id == f"sync:{intent}:succeeded" and event.outcome == "paid"
    assert sync_stale_payments(now=utcnow() + LATER) == {}  # nothing pending any more

    # The real webhook arrives after all: stored, and it changes nothing.
    r = deliver(
        client,
        intent_event(
            "evt_late",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    assert r.status_code == 200
    db.session.rollback()
    assert (
        db.session.scalar(select(PaymentEvent.outcome).where(PaymentEvent.event_id == "evt_late"))
        == "already applied"
    )
    lines = db.session.scalar(select(func.count()).where(AidEntry.source == order_reference(order["id"])))
    assert lines == 1 and db.session.get(Order, order["id"]).paid_fen == order["total_fen"]


def test_open_or_cancelled_intents_and_stripe_outages(stripe_shop, stripe_api, client):
    open_order, _open_intent = _order_with_intent(client, buyer("a@example.cn"))
    gone_order, gone_intent = _order_with_intent(client, buyer("b@example.cn"))
    stripe_api.settle(gone_intent, "canceled")
    stripe_api.down = True
    assert sync_stale_payments(now=utcnow() + LATER) == {"gateway unavailable": 1}
    stripe_api.down = False
    outcomes = sync_stale_payments(now=utcnow() + LATER)
    assert outcomes == {"still requires_payment_method": 1, "payment canceled": 1}
    assert _status(open_order["id"]) == _status(gone_order["id"]) == "pending_payment"
    db.session.rollback()
    statuses = dict(db.session.execute(select(Payment.order_id, Payment.status)).all())
    assert statuses == {open_order["id"]: "pending", gone_order["id"]: "canceled"}


def test_a_synced_payment_keeps_the_time_the_buyer_paid_and_its_beijing_day(stripe_shop, stripe_api, client):
    """Paid at 23:55 Beijing time, noticed by the sync after midnight: the aid day is the day of payment."""
    order, intent = _order_with_intent(client, buyer())
    paid = clock.at_local(clock.today() - timedelta(days=1), time(23, 55))
    stripe_api.settle(intent, at=int(paid.timestamp()))
    assert sync_stale_payments(now=utcnow() + LATER) == {"paid": 1}
    db.session.rollback()
    assert clock.aware(db.session.get(Order, order["id"]).paid_at) == paid
    days = set(
        db.session.scalars(select(AidEntry.day).where(AidEntry.source == order_reference(order["id"])))
    )
    assert days == {clock.local_day(paid)}
