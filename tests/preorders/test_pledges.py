"""Pledging through the API: windows, both caps, idempotency; units given back by expiry, cancellation and
refunds; paying with Stripe (the stand-in) and with a pickup card; refunds through the gateway that took
the money."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core import clock
from shop.core.db import db, utcnow
from shop.orders.models import Order
from shop.orders.services import expire_unpaid_orders
from shop.payments.models import Refund
from shop.preorders.models import Campaign
from tests.orders.helpers import auth, buyer
from tests.payments.conftest import deliver, intent_event
from tests.preorders.helpers import PICKUP, PRICE, admin, campaign, close, pay_manually

SHIP = {
    "type": "ship",
    "address": {
        "recipient": "李四",
        "phone": "13912345678",
        "district": "东丽区",
        "street_address": "华明街 8 号 2 单元",
    },
}


def _pledged(code: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(Campaign.pledged_units).where(Campaign.code == code))


def _pledge(client, user, code="HN-2026", quantity=1, key=None, delivery=None):
    headers = auth(user)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/api/v1/campaigns/{code}/pledges",
        json={"quantity": quantity, "delivery": delivery or PICKUP},
        headers=headers,
    )


def test_window_caps_and_idempotency(seeded, client):
    now = utcnow()
    campaign("LATER", opens=now + timedelta(days=1), closes=now + timedelta(days=2))
    campaign("HN-2026", cap=5, per_buyer=2)
    campaign("SECRET", status="draft")
    alice, bob = buyer("alice@x.cn"), buyer("bob@x.cn")

    r = _pledge(client, alice, "LATER")
    assert r.status_code == 409 and r.json["type"].endswith("campaign-not-open")
    assert client.get("/api/v1/campaigns/SECRET").status_code == 404
    assert [c["code"] for c in client.get("/api/v1/campaigns").json["items"]] == ["LATER", "HN-2026"]

    first = _pledge(client, alice, quantity=2, key="k1", delivery=SHIP)
    assert first.status_code == 201, first.json
    assert (
        set(first.json) >= {"id", "order_id", "quantity", "status"}
        and first.json["status"] == "pending_payment"
    )
    again = _pledge(client, alice, quantity=2, key="k1", delivery=SHIP)
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert _pledged("HN-2026") == 2

    r = _pledge(client, alice, quantity=1)
    assert r.status_code == 409 and r.json["type"].endswith("buyer-cap-reached")
    r = _pledge(client, bob, quantity=3)
    assert r.status_code == 409 and r.json["type"].endswith("buyer-cap-reached")
    assert _pledge(client, bob, quantity=2).status_code == 201
    r = _pledge(client, buyer("carol@x.cn"), quantity=2)
    assert r.status_code == 409 and r.json["type"].endswith("campaign-cap-reached")
    assert _pledge(client, buyer("dave@x.cn"), quantity=0).status_code == 422
    assert _pledged("HN-2026") == 4

    body = client.get("/api/v1/campaigns/HN-2026").json
    assert body["cap_units"] == 5 and body["pledged_units"] == 4 and body["status"] == "open"
    assert body["paid_units"] == 0 and body["price_fen"] == PRICE and body["sku"] == "APL-HN-5KG"
    order = db.session.get(Order, first.json["order_id"])
    assert order.kind == "pledge" and order.total_fen == 2 * PRICE and order.lines[0].unit_price_fen == PRICE

    close("HN-2026")
    r = _pledge(client, buyer("erin@x.cn"))
    assert r.status_code == 409 and r.json["type"].endswith("campaign-not-open")
    assert client.get("/api/v1/campaigns/HN-2026").json["status"] == "closed"


def test_expiry_cancellation_and_refund_give_units_back(seeded, client):
    campaign("HN-2026", cap=10, per_buyer=3)
    alice, bob, carol = buyer("alice@x.cn"), buyer("bob@x.cn"), buyer("carol@x.cn")
    a = _pledge(client, alice, quantity=3).json
    b = _pledge(client, bob, quantity=2).json
    c = _pledge(client, carol, quantity=1).json
    assert _pledged("HN-2026") == 6

    # Unpaid pledges expire with the order sweep and give their units back.
    db.session.rollback()
    a_order = db.session.get(Order, a["order_id"])
    assert expire_unpaid_orders(now=clock.aware(a_order.reserved_until) + timedelta(seconds=1)) == 3
    assert _pledged("HN-2026") == 0
    assert client.get(f"/api/v1/pledges/{a['id']}", headers=auth(alice)).json["status"] == "expired"
    # ... and the buyer may pledge again.
    a = _pledge(client, alice, quantity=3).json
    assert _pledged("HN-2026") == 3

    # Withdrawn unpaid: cancelled. Withdrawn paid before closing: refunded in full.
    r = client.post(f"/api/v1/pledges/{a['id']}/cancel", headers=auth(alice))
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    b = _pledge(client, bob, quantity=2).json
    pay_manually(b["order_id"], at=utcnow())
    assert client.get("/api/v1/campaigns/HN-2026").json["paid_units"] == 2
    r = client.post(f"/api/v1/pledges/{b['id']}/cancel", headers=auth(bob))
    assert r.status_code == 200 and r.json["status"] == "refunded", r.json
    assert _pledged("HN-2026") == 0
    refund = db.session.scalars(select(Refund).where(Refund.order_id == b["order_id"])).one()
    assert refund.amount_fen == 2 * PRICE and refund.gateway == "manual"
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 0

    # Someone else's pledge is not yours to cancel; after closing a paid pledge waits for the harvest.
    c = _pledge(client, carol, quantity=1).json
    assert client.post(f"/api/v1/pledges/{c['id']}/cancel", headers=auth(bob)).status_code == 404
    pay_manually(c["order_id"], at=utcnow())
    close("HN-2026")
    r = client.post(f"/api/v1/pledges/{c['id']}/cancel", headers=auth(carol))
    assert r.status_code == 409 and r.json["type"].endswith("pledge-not-cancellable")


def test_stripe_pledge_paid_by_webhook_and_refunded_through_stripe_when_the_harvest_fails(
    stripe_shop, client, stripe_api
):
    campaign("HN-2026", cap=10, per_buyer=2)
    alice = buyer("alice@x.cn")
    p = _pledge(client, alice, quantity=2).json
    r = client.post(f"/api/v1/orders/{p['order_id']}/payments/stripe", headers=auth(alice))
    assert r.status_code == 200 and r.json["amount_fen"] == 2 * PRICE
    ev = intent_event(
        "evt_pledge_1",
        "payment_intent.succeeded",
        intent=r.json["payment_intent"],
        order_id=p["order_id"],
        amount=2 * PRICE,
    )
    assert deliver(client, ev).status_code == 200
    assert client.get(f"/api/v1/pledges/{p['id']}", headers=auth(alice)).json["status"] == "paid"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 0

    close("HN-2026")
    r = client.post("/api/v1/admin/campaigns/HN-2026/harvest", json={"units": 0}, headers=auth(admin()))
    assert r.status_code == 200 and (r.json["allocated_units"], r.json["refunded_units"]) == (0, 2)
    # The allocation task ran inline after the commit: the refund went to Stripe with its own key.
    assert client.get(f"/api/v1/pledges/{p['id']}", headers=auth(alice)).json["status"] == "refunded"
    sent = stripe_api.posts("/v1/refunds")
    assert (
        len(sent) == 1
        and sent[0].form["amount"] == str(2 * PRICE)
        and sent[0].idempotency_key.startswith("refund-")
    )
    assert client.get("/api/v1/campaigns/HN-2026").json["status"] == "done"


def test_a_late_payment_takes_the_units_again_while_open_and_is_refunded_after_closing(
    stripe_shop, client, stripe_api
):
    campaign("HN-2026", cap=3, per_buyer=3)
    alice, bob = buyer("alice@x.cn"), buyer("bob@x.cn")
    late = []
    for user in (alice, bob):
        p = _pledge(client, user, quantity=1).json
        intent = client.post(f"/api/v1/orders/{p['order_id']}/payments/stripe", headers=auth(user)).json[
            "payment_intent"
        ]
        late.append((p, intent))
    db.session.rollback()
    order = db.session.get(Order, late[0][0]["order_id"])
    expire_unpaid_orders(now=clock.aware(order.reserved_until) + timedelta(seconds=1))
    assert _pledged("HN-2026") == 0

    # Alice's payment arrives while the campaign is still open: her unit is taken again, she is paid.
    p, intent = late[0]
    deliver(
        client,
        intent_event(
            "evt_late_1", "payment_intent.succeeded", intent=intent, order_id=p["order_id"], amount=PRICE
        ),
    )
    assert client.get(f"/api/v1/pledges/{p['id']}", headers=auth(alice)).json["status"] == "paid"
    assert _pledged("HN-2026") == 1

    # Bob's arrives after closing: the shop does not keep it.
    close("HN-2026")
    p, intent = late[1]
    deliver(
        client,
        intent_event(
            "evt_late_2", "payment_intent.succeeded", intent=intent, order_id=p["order_id"], amount=PRICE
        ),
    )
    assert client.get(f"/api/v1/pledges/{p['id']}", headers=auth(bob)).json["status"] == "refunded"
    assert _pledged("HN-2026") == 1
    assert len(stripe_api.posts("/v1/refunds")) == 1


def test_a_pledge_unpaid_at_harvest_and_paid_after_it_is_refunded(seeded, client):
    from shop.core.db import atomic
    from shop.preorders import harvest
    from tests.preorders.helpers import settle_all

    c = campaign("HN-2026", cap=5, per_buyer=2)
    alice, bob = buyer("alice@x.cn"), buyer("bob@x.cn")
    a = _pledge(client, alice, quantity=2).json
    b = _pledge(client, bob, quantity=1).json
    pay_manually(a["order_id"], at=utcnow())
    close("HN-2026")
    with atomic():
        done = harvest.record_harvest("HN-2026", units=5, actor=admin())
    assert (done.allocated_units, done.refunded_units) == (2, 0)  # Bob had not paid: not in the plan
    settle_all(c.id)
    pay_manually(b["order_id"], at=utcnow())  # still within his time to pay
    settle_all(c.id)
    assert client.get(f"/api/v1/pledges/{a['id']}", headers=auth(alice)).json["status"] == "filled"
    assert client.get(f"/api/v1/pledges/{b['id']}", headers=auth(bob)).json["status"] == "refunded"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 1
