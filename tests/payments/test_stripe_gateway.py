"""The Stripe gateway's requests, checked against a local stand-in for the Stripe API."""

from sqlalchemy import func, select

from shop.core.db import db
from shop.core.models import OutboxMessage
from shop.payments.models import Payment, Refund
from tests.conftest import create_user
from tests.orders.helpers import SHIP, auth, buyer, order_body
from tests.payments.conftest import deliver, intent_event


def _order(client, user, **kw):
    r = client.post("/api/v1/orders", json=order_body(**kw), headers=auth(user))
    assert r.status_code == 201, r.json
    return r.json


def test_order_payment_creates_one_cny_payment_intent_with_a_derived_key(stripe_shop, stripe_api, client):
    b = buyer()
    order = _order(client, b, quantity=2, delivery=SHIP)
    assert order["payment"]["gateway"] == "stripe"
    assert order["payment"]["intent_url"] == f"/api/v1/orders/{order['id']}/payments/stripe"
    assert stripe_api.requests == []  # placing the order talks to nobody
    r1 = client.post(order["payment"]["intent_url"], headers=auth(b))
    r2 = client.post(order["payment"]["intent_url"], headers=auth(b))
    assert r1.status_code == r2.status_code == 200, r1.json
    assert r1.json == r2.json
    assert r1.json["amount_fen"] == order["total_fen"] == 2 * 2800 + 1000 and r1.json["currency"] == "CNY"
    assert (
        r1.json["client_secret"].startswith(r1.json["payment_intent"])
        and r1.json["publishable_key"] == "pk_test_standin"
    )
    calls = stripe_api.posts("/v1/payment_intents")
    assert len(calls) == 2 and {c.idempotency_key for c in calls} == {f"order-{order['id']}-pi"}
    form = calls[0].form
    assert form["amount"] == str(order["total_fen"]) and form["currency"] == "cny"
    assert [form[f"payment_method_types[{i}]"] for i in range(3)] == ["card", "alipay", "wechat_pay"]
    assert (
        form["metadata[order_id]"] == str(order["id"]) and form["metadata[order_number]"] == order["number"]
    )
    assert calls[0].authorization == "Bearer sk_test_standin"
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    shown = client.get(f"/api/v1/orders/{order['id']}", headers=auth(b)).json
    assert shown["payment"]["intent"] == r1.json["payment_intent"]


def test_only_the_buyer_starts_a_payment_and_only_while_payable(stripe_shop, stripe_api, client):
    b = buyer()
    order = _order(client, b)
    assert (
        client.post(
            f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(buyer("o@x.cn"))
        ).status_code
        == 404
    )
    client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b))
    r = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(b))
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    assert stripe_api.posts("/v1/payment_intents") == []


def test_staff_refund_goes_to_stripe_with_a_derived_key(stripe_shop, stripe_api, client):
    b = buyer()
    order = _order(client, b, quantity=3)
    intent = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(b)).json[
        "payment_intent"
    ]
    ev = intent_event(
        "evt_paid", "payment_intent.succeeded", intent=intent, order_id=order["id"], amount=order["total_fen"]
    )
    assert deliver(client, ev).status_code == 200
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    r = client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}], "reason": "one bag damaged"},
        headers=auth(staff),
    )
    assert r.status_code == 201, r.json
    refund_id = r.json["refund"]["id"]
    calls = stripe_api.posts("/v1/refunds")
    assert len(calls) == 1
    assert calls[0].idempotency_key == f"refund-{refund_id}"
    assert calls[0].form["payment_intent"] == intent and calls[0].form["amount"] == "2800"
    assert calls[0].form["metadata[refund_id]"] == str(refund_id)
    db.session.rollback()
    refund = db.session.get(Refund, refund_id)
    assert refund.status == "succeeded" and refund.provider_ref.startswith("re_")


def test_cancelling_an_unpaid_order_cancels_its_payment_intent(stripe_shop, stripe_api, client):
    b = buyer()
    order = _order(client, b)
    intent = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(b)).json[
        "payment_intent"
    ]
    assert client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b)).status_code == 200
    cancels = [r for r in stripe_api.requests if r.path == f"/v1/payment_intents/{intent}/cancel"]
    assert len(cancels) == 1 and cancels[0].idempotency_key == f"order-{order['id']}-pi-cancel"


def test_stripe_down_is_a_503_problem_and_refunds_wait_in_the_outbox(stripe_shop, stripe_api, client):
    b = buyer()
    order = _order(client, b)
    intent = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(b)).json[
        "payment_intent"
    ]
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
    stripe_api.down = True
    other = _order(client, b)
    r = client.post(f"/api/v1/orders/{other['id']}/payments/stripe", headers=auth(b))
    assert r.status_code == 503 and r.content_type == "application/problem+json"
    staff = create_user("admin@x.cn", role="admin")
    r = client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={"reason": "buyer changed mind"}, headers=auth(staff)
    )
    assert r.status_code == 201  # recorded; the gateway call waits for Stripe
    db.session.rollback()
    refund = db.session.get(Refund, r.json["refund"]["id"])
    assert refund.status == "pending"
    unsent = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.task == "shop.payments.send_refund", OutboxMessage.sent_at.is_(None)
        )
    )
    assert unsent is not None and unsent.attempts == 1
    stripe_api.down = False
    from shop.core.outbox import relay

    assert relay([unsent.id]) == 1
    db.session.rollback()
    assert db.session.get(Refund, refund.id).status == "succeeded"
    assert len(stripe_api.posts("/v1/refunds")) == 1


def test_manual_order_cannot_be_paid_online(seeded, client):
    b = buyer()
    order = _order(client, b)
    r = client.post(f"/api/v1/orders/{order['id']}/payments/stripe", headers=auth(b))
    assert r.status_code == 409 and r.json["type"].endswith("wrong-gateway")


def test_timed_out_call_is_retried_with_the_same_idempotency_key(stripe_shop, stripe_api):
    """Stripe answers too slowly the first time; the client retries with the same key: one intent."""
    import time as _time

    from shop.payments.stripe_gateway import StripeGateway

    settings = stripe_shop.extensions["settings"]
    settings.STRIPE_TIMEOUT_SECONDS = 1.0
    original = stripe_api.handle
    slow = {"left": 1}

    def slow_once(req):
        result = original(req)  # Stripe did the work and recorded the key before answering...
        stripe_api.by_key[req.headers["Idempotency-Key"]] = result
        if slow["left"]:
            slow["left"] -= 1
            _time.sleep(1.5)  # ...but the answer arrives after the client gave up
        return result

    stripe_api.handle = slow_once

    class _Order:
        id, total_fen, number = 4242, 6800, "261127-0001-0001"

    try:
        result = StripeGateway(settings).create_intent(_Order())
    finally:
        stripe_api.handle = original
        settings.STRIPE_TIMEOUT_SECONDS = 10.0
    posts = stripe_api.posts("/v1/payment_intents")
    assert len(posts) == 2
    assert {p.idempotency_key for p in posts} == {"order-4242-pi"}
    assert len(stripe_api.intents) == 1 and result.provider_ref in stripe_api.intents
