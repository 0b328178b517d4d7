"""A signed ``payment_intent.succeeded`` for a PaymentIntent the shop never created (issue #13, item 11).

Its metadata may name any order, a manual-gateway one included: the order is never marked paid, nothing
is counted or fulfilled, and the order is flagged for staff (once, however often the event comes).
"""

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core.db import db
from shop.core.models import OutboxMessage
from shop.notifications.models import Notification
from shop.orders.models import Order
from shop.payments.models import Payment, PaymentEvent
from tests.orders.helpers import auth, buyer, order_body, reserved
from tests.payments.conftest import deliver, intent_event


def _manual_order(client, settings) -> dict:
    settings.PAYMENT_GATEWAY = "manual"
    try:
        r = client.post("/api/v1/orders", json=order_body(), headers=auth(buyer()))
    finally:
        settings.PAYMENT_GATEWAY = "stripe"
    assert r.status_code == 201 and r.json["payment"]["gateway"] == "manual"
    return r.json


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_foreign_intent_naming_a_manual_order_does_not_pay_it(stripe_shop, client):
    order = _manual_order(client, stripe_shop.extensions["settings"])
    ev = intent_event(
        "evt_forged",
        "payment_intent.succeeded",
        intent="pi_foreign",
        order_id=order["id"],
        amount=order["total_fen"],
    )
    r1 = deliver(client, ev)
    r2 = deliver(client, {**ev, "id": "evt_forged_again"})  # Stripe may send it again under a new id
    assert r1.status_code == r2.status_code == 200
    assert "flagged, not applied" in r1.json["outcome"]
    db.session.rollback()
    stored = db.session.get(Order, order["id"])
    assert stored.status == "pending_payment" and stored.paid_fen == 0 and stored.paid_at is None
    assert stored.needs_attention and stored.attention_note.count("pi_foreign") == 1
    assert _count(Payment) == 0 and _count(AidEntry) == 0
    assert not db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.task == "shop.fulfilment.fulfil_order")
    ).all()
    assert reserved("CHL-LINE-500G", "DL-HM") == 2  # still held for the buyer's real payment
    staff_notice = db.session.scalar(select(Notification).where(Notification.kind == "order_attention"))
    assert staff_notice is not None and "pi_foreign" in staff_notice.body
    event = db.session.scalar(select(PaymentEvent).where(PaymentEvent.event_id == "evt_forged"))
    assert event.order_id == order["id"]  # kept for the audit trail


def test_a_foreign_intent_for_an_online_order_does_not_pay_it_either(stripe_shop, client):
    b = buyer()
    order = client.post("/api/v1/orders", json=order_body(), headers=auth(b)).json
    ours = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(b)).json[
        "payment_intent"
    ]
    r = deliver(
        client,
        intent_event(
            "evt_other",
            "payment_intent.succeeded",
            intent="pi_other",
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    assert "flagged, not applied" in r.json["outcome"]
    db.session.rollback()
    assert db.session.get(Order, order["id"]).status == "pending_payment"
    # The buyer's own payment, the one the shop created, still pays the order.
    r = deliver(
        client,
        intent_event(
            "evt_ours",
            "payment_intent.succeeded",
            intent=ours,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    assert r.json["outcome"] == "paid"


def test_other_events_of_a_foreign_intent_are_ignored(stripe_shop, client):
    order = _manual_order(client, stripe_shop.extensions["settings"])
    for kind in ("payment_intent.payment_failed", "payment_intent.canceled"):
        r = deliver(
            client, intent_event(f"evt_{kind}", kind, intent="pi_foreign", order_id=order["id"], amount=1)
        )
        assert r.status_code == 200 and r.json["outcome"].startswith("ignored")
    r = deliver(
        client,
        intent_event("evt_huge", "payment_intent.succeeded", intent="pi_x", order_id=10**30, amount=1),
    )
    assert r.status_code == 200 and r.json["outcome"].startswith("ignored")
    db.session.rollback()
    assert _count(Payment) == 0 and not db.session.get(Order, order["id"]).needs_attention
