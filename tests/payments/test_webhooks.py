"""Stripe webhooks signed the way Stripe signs them: twice, out of order, late, badly signed, wrong amount.

Each order is paid exactly once: one counted payment, one aid entry set, one fulfilment message.
"""

import json
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core.db import atomic, db, utcnow
from shop.core.models import OutboxMessage
from shop.inventory.services import reconcile
from shop.notifications.models import Notification
from shop.orders.models import Order, OrderStatusChange, order_reference
from shop.orders.services import expire_unpaid_orders
from shop.payments.models import Payment, PaymentEvent, Refund
from tests.orders.helpers import auth, buyer, order_body, reserved
from tests.payments.conftest import deliver, intent_event, sign


def _order_with_intent(client, user, quantity=2):
    order = client.post("/api/v1/orders", json=order_body(quantity=quantity), headers=auth(user)).json
    intent = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(user)).json[
        "payment_intent"
    ]
    return order, intent


def _paid_once(order_id: int) -> None:
    db.session.rollback()
    order = db.session.get(Order, order_id)
    assert order.status == "paid" and order.paid_fen == order.total_fen
    assert db.session.scalar(
        select(func.count()).select_from(AidEntry).where(AidEntry.source == order_reference(order_id))
    ) == len(order.lines)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.task == "shop.fulfilment.fulfil_order")
        )
        == 1
    )
    assert db.session.scalars(
        select(OrderStatusChange.to_status).where(OrderStatusChange.order_id == order_id)
    ).all() == ["pending_payment", "paid"]


def _events() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(PaymentEvent))


def test_succeeded_delivered_twice_pays_once(stripe_shop, client):
    b = buyer()
    order, intent = _order_with_intent(client, b)
    ev = intent_event(
        "evt_1", "payment_intent.succeeded", intent=intent, order_id=order["id"], amount=order["total_fen"]
    )
    r1, r2 = deliver(client, ev), deliver(client, ev)
    assert r1.status_code == r2.status_code == 200
    assert r1.json["duplicate"] is False and r1.json["outcome"] == "paid"
    assert r2.json["duplicate"] is True
    _paid_once(order["id"])
    assert _events() == 1
    shown = client.get(f"/api/v1/orders/{order['id']}", headers=auth(b)).json
    assert shown["status"] == "paid" and shown["payment"]["status"] == "succeeded"
    assert reserved("CHL-LINE-500G", "DL-HM") == 2  # kept for fulfilment


def test_a_second_event_for_the_same_payment_changes_nothing(stripe_shop, client):
    order, intent = _order_with_intent(client, buyer())
    for eid in ("evt_a", "evt_b"):  # Stripe re-sends with a new id in rare cases
        deliver(
            client,
            intent_event(
                eid,
                "payment_intent.succeeded",
                intent=intent,
                order_id=order["id"],
                amount=order["total_fen"],
            ),
        )
    _paid_once(order["id"])
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_concurrent_duplicate_deliveries_pay_once(stripe_shop, client):
    order, intent = _order_with_intent(client, buyer())
    body = json.dumps(
        intent_event(
            "evt_race",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        )
    ).encode()
    go = threading.Barrier(6)
    codes = []

    def post():
        c = stripe_shop.test_client()
        go.wait()
        codes.append(deliver(c, {}, raw=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 6
    _paid_once(order["id"])
    assert _events() == 1


def test_out_of_order_failure_after_success_changes_nothing(stripe_shop, client):
    order, intent = _order_with_intent(client, buyer())
    deliver(
        client,
        intent_event(
            "evt_ok",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    r = deliver(
        client,
        intent_event(
            "evt_fail",
            "payment_intent.payment_failed",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    assert r.status_code == 200 and r.json["outcome"].startswith("ignored")
    deliver(
        client,
        intent_event(
            "evt_cancel",
            "payment_intent.canceled",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    _paid_once(order["id"])
    assert db.session.scalar(select(Payment.status).where(Payment.provider_ref == intent)) == "succeeded"


def test_failure_then_success_pays(stripe_shop, client):
    b = buyer()
    order, intent = _order_with_intent(client, b)
    deliver(
        client,
        intent_event(
            "evt_f",
            "payment_intent.payment_failed",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    db.session.rollback()
    assert db.session.get(Order, order["id"]).status == "pending_payment"
    kinds = db.session.scalars(
        select(Notification.kind).where(Notification.dedupe_key.like(f"order:{order['id']}:%"))
    ).all()
    assert kinds == ["order_payment_failed"]
    deliver(
        client,
        intent_event(
            "evt_s",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    _paid_once(order["id"])


def test_an_intent_the_shop_did_not_create_never_pays_its_order(stripe_shop, client):
    """Metadata naming an order is anyone's to write: only an intent the shop stored pays an order."""
    order = client.post("/api/v1/orders", json=order_body(), headers=auth(buyer())).json
    r = deliver(
        client,
        intent_event(
            "evt_early",
            "payment_intent.succeeded",
            intent="pi_unseen",
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    assert r.status_code == 200 and "not created by the shop" in r.json["outcome"]
    db.session.rollback()
    stored = db.session.get(Order, order["id"])
    assert stored.status == "pending_payment" and stored.paid_fen == 0 and stored.needs_attention
    assert "pi_unseen" in stored.attention_note


def test_bad_signatures_are_400_and_store_nothing(stripe_shop, client):
    order, intent = _order_with_intent(client, buyer())
    ev = intent_event(
        "evt_sig", "payment_intent.succeeded", intent=intent, order_id=order["id"], amount=order["total_fen"]
    )
    body = json.dumps(ev).encode()
    cases = {
        "wrong secret": sign(body, secret="whsec_other"),
        "stale": sign(body, at=int(time.time()) - 400),
        "garbage": "t=1,v1=deadbeef",
        "missing": "",
    }
    for name, sig in cases.items():
        r = deliver(client, ev, signature=sig, raw=body)
        assert r.status_code == 400, name
        assert r.content_type == "application/problem+json" and r.json["type"].endswith("bad-signature"), name
    tampered = body.replace(str(order["total_fen"]).encode(), b"1")
    assert deliver(client, ev, signature=sign(body), raw=tampered).status_code == 400
    assert _events() == 0
    assert db.session.get(Order, order["id"]).status == "pending_payment"


def test_wrong_amount_or_currency_is_recorded_flagged_and_not_paid(stripe_shop, client):
    for i, (amount, currency) in enumerate([(1, "cny"), (None, "usd")]):
        order, intent = _order_with_intent(client, buyer(f"b{i}@x.cn"))
        amt = order["total_fen"] if amount is None else amount
        ev = intent_event(
            f"evt_wrong_{i}",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=amt,
            currency=currency,
        )
        r = deliver(client, ev)
        assert r.status_code == 200 and "mismatch" in r.json["outcome"]
        db.session.rollback()
        o = db.session.get(Order, order["id"])
        assert o.status == "pending_payment" and o.paid_fen == 0
        assert o.needs_attention and "received" in o.attention_note
        assert db.session.scalar(select(Payment.status).where(Payment.provider_ref == intent)) == "mismatch"
        assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 0
        assert db.session.scalar(
            select(PaymentEvent.outcome).where(PaymentEvent.event_id == f"evt_wrong_{i}")
        )


def test_late_payment_reserves_again_when_stock_allows(stripe_shop, client):
    order, intent = _order_with_intent(client, buyer(), quantity=3)
    assert expire_unpaid_orders(now=utcnow() + timedelta(hours=1)) == 1
    assert reserved("CHL-LINE-500G", "DL-HM") == 0
    ev = intent_event(
        "evt_late", "payment_intent.succeeded", intent=intent, order_id=order["id"], amount=order["total_fen"]
    )
    r = deliver(client, ev)
    assert r.json["outcome"].startswith("paid late")
    db.session.rollback()
    o = db.session.get(Order, order["id"])
    assert o.status == "paid" and o.reservation_state == "held"
    assert reserved("CHL-LINE-500G", "DL-HM") == 3 and reconcile() == []


def test_late_payment_without_stock_is_refunded_automatically(stripe_shop, stripe_api, client):
    b = buyer()
    order, intent = _order_with_intent(client, b, quantity=15)
    assert expire_unpaid_orders(now=utcnow() + timedelta(hours=1)) == 1
    # Meanwhile someone else buys the hall's stock.
    rival = client.post("/api/v1/orders", json=order_body(quantity=20), headers=auth(buyer("fast@x.cn")))
    assert rival.status_code == 201
    ev = intent_event(
        "evt_late2",
        "payment_intent.succeeded",
        intent=intent,
        order_id=order["id"],
        amount=order["total_fen"],
    )
    r = deliver(client, ev)
    assert r.status_code == 200 and "refunded" in r.json["outcome"]
    db.session.rollback()
    o = db.session.get(Order, order["id"])
    assert o.status == "refunded" and o.paid_fen == o.refunded_fen == order["total_fen"]
    refund = db.session.scalar(select(Refund).where(Refund.order_id == o.id))
    assert refund.automatic and refund.status == "succeeded" and refund.amount_fen == order["total_fen"]
    calls = stripe_api.posts("/v1/refunds")
    assert (
        len(calls) == 1
        and calls[0].idempotency_key == f"refund-{refund.id}"
        and calls[0].form["payment_intent"] == intent
    )
    assert (
        "order_auto_refunded"
        in db.session.scalars(
            select(Notification.kind).where(Notification.dedupe_key.like(f"order:{o.id}:%"))
        ).all()
    )
    assert (
        db.session.scalar(
            select(func.count()).select_from(AidEntry).where(AidEntry.source == o.reference_key)
        )
        == 0
    )
    assert reserved("CHL-LINE-500G", "DL-HM") == 20 and reconcile() == []
    # The same event again changes nothing and refunds nothing twice.
    assert deliver(client, ev).json["duplicate"] is True
    assert len(stripe_api.posts("/v1/refunds")) == 1


def test_payment_for_a_cancelled_order_is_refunded(stripe_shop, stripe_api, client):
    b = buyer()
    order, intent = _order_with_intent(client, b)
    client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b))
    # The buyer completed the payment just before the cancel reached Stripe.
    stripe_api.intents[intent]["status"] = "succeeded"
    deliver(
        client,
        intent_event(
            "evt_c",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    db.session.rollback()
    o = db.session.get(Order, order["id"])
    assert o.status == "cancelled" and o.paid_fen == o.refunded_fen == order["total_fen"]
    assert len(stripe_api.posts("/v1/refunds")) == 1


def test_refund_events_settle_and_flag(stripe_shop, stripe_api, client):
    from tests.conftest import create_user

    b = buyer()
    order, intent = _order_with_intent(client, b)
    deliver(
        client,
        intent_event(
            "evt_p",
            "payment_intent.succeeded",
            intent=intent,
            order_id=order["id"],
            amount=order["total_fen"],
        ),
    )
    stripe_api.refund_status = "pending"
    staff = create_user("admin@x.cn", role="admin")
    refund_id = client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"amount_fen": 500, "reason": "late"},
        headers=auth(staff),
    ).json["refund"]["id"]
    db.session.rollback()
    refund = db.session.get(Refund, refund_id)
    assert refund.status == "pending" and refund.provider_ref
    failed = {
        "id": "evt_rf",
        "type": "refund.updated",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": refund.provider_ref,
                "object": "refund",
                "status": "failed",
                "failure_reason": "expired_or_canceled_card",
                "payment_intent": intent,
                "metadata": {"refund_id": str(refund_id)},
            }
        },
    }
    assert deliver(client, failed).status_code == 200
    db.session.rollback()
    assert db.session.get(Refund, refund_id).status == "failed"
    assert db.session.get(Order, order["id"]).needs_attention
    # A refund made in Stripe's dashboard shows up on charge.refunded: flagged for staff.
    outside = {
        "id": "evt_charge",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": intent,
                "amount_refunded": order["total_fen"],
                "refunds": {
                    "data": [
                        {"id": "re_dashboard", "status": "succeeded", "amount": order["total_fen"] - 500}
                    ]
                },
            }
        },
    }
    r = deliver(client, outside)
    assert r.status_code == 200 and "flagged" in r.json["outcome"]
    db.session.rollback()
    assert "not made by the shop" in db.session.get(Order, order["id"]).attention_note


def test_unknown_events_and_orders_are_stored_and_ignored(stripe_shop, client):
    r = deliver(
        client, {"id": "evt_x", "type": "customer.created", "created": 1, "data": {"object": {"id": "cus_1"}}}
    )
    assert r.status_code == 200 and r.json["outcome"].startswith("ignored")
    r = deliver(
        client,
        intent_event("evt_y", "payment_intent.succeeded", intent="pi_nobody", order_id=999999, amount=100),
    )
    assert r.status_code == 200 and r.json["outcome"].startswith("ignored")
    assert _events() == 2


def test_webhook_without_stripe_configured_is_404(seeded, client):
    r = client.post(
        "/api/v1/payments/stripe/webhook",
        data=b"{}",
        headers={"Stripe-Signature": "t=1,v1=x", "Content-Type": "application/json"},
    )
    assert r.status_code == 404 and r.content_type == "application/problem+json"


def test_expired_event_payload_is_kept_for_audit(stripe_shop, client):
    order, intent = _order_with_intent(client, buyer())
    ev = intent_event(
        "evt_keep", "payment_intent.succeeded", intent=intent, order_id=order["id"], amount=order["total_fen"]
    )
    deliver(client, ev)
    with atomic():
        row = db.session.scalar(select(PaymentEvent).where(PaymentEvent.event_id == "evt_keep"))
        assert (
            row.payload["data"]["object"]["id"] == intent and row.order_id == order["id"] and row.processed_at
        )
