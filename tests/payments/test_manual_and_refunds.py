"""Manual payments confirmed by staff, cancellations and refunds (full, partial, with returned goods)."""

from datetime import timedelta

from sqlalchemy import func, select

from shop.aid.models import AidEntry, AidRollup
from shop.catalog.models import Location, Variant
from shop.core.db import atomic, db, utcnow
from shop.core.models import OutboxMessage
from shop.inventory.services import reconcile, take_stock
from shop.orders.models import Order, order_reference
from shop.orders.services import expire_unpaid_orders
from shop.orders.states import advance
from shop.payments.models import Payment, Refund
from shop.workunits import services as units
from tests.conftest import create_user
from tests.orders.helpers import auth, buyer, level, reserved


def _place(client, user, lines=None):
    body = {
        "lines": lines or [{"sku": "CHL-LINE-500G", "quantity": 3}, {"sku": "APL-HN-5KG", "quantity": 1}],
        "delivery": {"type": "pickup", "location": "DL-HM"},
    }
    r = client.post("/api/v1/orders", json=body, headers=auth(user))
    assert r.status_code == 201, r.json
    return r.json


def _pay(client, staff, order_id, **extra):
    return client.post(
        f"/api/v1/orders/{order_id}/payments/manual", json={"method": "cash", **extra}, headers=auth(staff)
    )


def _aid_sum(order_id=None) -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.coalesce(func.sum(AidEntry.amount_fen), 0))) or 0)


def _rollup_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(AidRollup.amount_fen), 0))) or 0)


def test_staff_confirm_manual_payment_counts_the_sale_once(seeded, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order = _place(client, buyer())
    r = _pay(client, staff, order["id"], amount_fen=order["total_fen"], reference="收据 0012")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "paid" and r.json["paid_fen"] == order["total_fen"] == 3 * 2800 + 6800
    assert r.json["payment"]["status"] == "succeeded" and r.json["payment"]["method"] == "cash"
    entries = db.session.scalars(
        select(AidEntry).where(AidEntry.source == order_reference(order["id"]))
    ).all()
    assert sorted(e.amount_fen for e in entries) == [6800, 8400]
    assert {e.channel for e in entries} == {"online"} and not any(e.direct_purchase for e in entries)
    assert _rollup_sum() == order["total_fen"]
    msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.task == "shop.fulfilment.fulfil_order"))
    assert msg.payload == {"order_id": order["id"]} and msg.queue == "fulfilment"
    assert reserved("CHL-LINE-500G", "DL-HM") == 3  # kept for fulfilment
    again = _pay(client, staff, order["id"])
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert (
        db.session.scalar(select(func.count()).select_from(Payment)) == 1 and _aid_sum() == order["total_fen"]
    )


def test_work_unit_order_counts_as_direct_purchase_only_when_the_unit_is_verified(seeded, client):
    """An account that calls itself a work unit is not verified: its orders are helped sales (issue 13,
    item 8); a unit verified by an officer buys as direct purchase (tests/workunits has the rest)."""
    staff = create_user("admin@x.cn", role="admin")
    order = _place(client, buyer("union@x.cn", buyer_kind="work_unit"))
    assert _pay(client, staff, order["id"]).status_code == 200
    entries = db.session.scalars(select(AidEntry)).all()
    assert {e.channel for e in entries} == {"online"} and not any(e.direct_purchase for e in entries)
    with atomic():
        user = units.register_unit(
            units.UnitRegistration(
                email="canteen@x.cn", password="password-123", name="食堂", invoice_title="东丽区机关食堂",
                tax_id="12120110MB0000000H", unit_type="budget_unit",
            )
        )  # fmt: skip
        units.verify_unit(user.id, note="checked", actor=staff)
    order = _place(client, user)
    assert _pay(client, staff, order["id"]).status_code == 200
    db.session.rollback()
    entries = db.session.scalars(select(AidEntry).where(AidEntry.source == f"order:{order['id']}")).all()
    assert {e.channel for e in entries} == {"work_unit"} and all(e.direct_purchase for e in entries)


def test_manual_payment_refusals_change_nothing(seeded, client):
    here = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    there = create_user("op2@x.cn", role="operator", locations=["DL-WX"])
    b = buyer()
    order = _place(client, b)
    assert _pay(client, there, order["id"]).status_code == 403
    assert _pay(client, b, order["id"]).status_code == 403
    assert _pay(client, here, order["id"], amount_fen=order["total_fen"] - 1).status_code == 422
    r = client.post(
        f"/api/v1/orders/{order['id']}/payments/manual", json={"method": "bitcoin"}, headers=auth(here)
    )
    assert r.status_code == 422
    assert _pay(client, here, 999999).status_code == 404
    db.session.rollback()
    assert db.session.get(Order, order["id"]).status == "pending_payment" and _aid_sum() == 0
    # Paying an expired or cancelled order is refused.
    assert expire_unpaid_orders(now=utcnow() + timedelta(days=10)) == 1
    r = _pay(client, here, order["id"])
    assert r.status_code == 409 and "expired" in r.json["detail"]
    other = _place(client, b)
    client.post(f"/api/v1/orders/{other['id']}/cancel", json={}, headers=auth(b))
    assert _pay(client, here, other["id"]).status_code == 409
    # Past its deadline but not swept yet: still refused.
    late = _place(client, b)
    with atomic():
        db.session.get(Order, late["id"]).reserved_until = utcnow() - timedelta(minutes=1)
    assert _pay(client, here, late["id"]).status_code == 409
    assert _aid_sum() == 0 and db.session.scalar(select(func.count()).select_from(Payment)) == 0


def _paid_order(client, staff, user=None, lines=None):
    order = _place(client, user or buyer(), lines)
    assert _pay(client, staff, order["id"]).status_code == 200
    return order


def _refund(client, staff, order_id, headers=None, **body):
    return client.post(
        f"/api/v1/orders/{order_id}/refunds", json=body, headers={**auth(staff), **(headers or {})}
    )


def test_full_refund_releases_stock_reverses_aid_and_settles(inline_outbox, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order = _paid_order(client, staff)
    r = _refund(client, staff, order["id"], reason="buyer changed mind")
    assert r.status_code == 201, r.json
    assert r.json["refund"]["amount_fen"] == order["total_fen"]
    assert r.json["order"]["status"] == "refunded" and r.json["order"]["refunded_fen"] == order["total_fen"]
    assert reserved("CHL-LINE-500G", "DL-HM") == 0 and reserved("APL-HN-5KG", "DL-HM") == 0
    assert _aid_sum() == 0 and _rollup_sum() == 0
    assert db.session.scalar(select(Refund.status)) == "succeeded"  # manual gateway: staff pay it out
    again = _refund(client, staff, order["id"], reason="again")
    assert again.status_code == 409 and reconcile() == []


def test_partial_refund_by_lines_keeps_the_rest_for_fulfilment(inline_outbox, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order = _paid_order(client, staff)
    r = _refund(
        client, staff, order["id"], lines=[{"sku": "CHL-LINE-500G", "quantity": 1}], reason="bag torn"
    )
    assert r.status_code == 201, r.json
    assert r.json["refund"]["amount_fen"] == 2800 and r.json["order"]["status"] == "paid"
    line = next(ln for ln in r.json["order"]["lines"] if ln["sku"] == "CHL-LINE-500G")
    assert line["refunded_quantity"] == 1 and line["refunded_fen"] == 2800
    assert reserved("CHL-LINE-500G", "DL-HM") == 2 and reserved("APL-HN-5KG", "DL-HM") == 1
    assert _aid_sum() == order["total_fen"] - 2800 and _rollup_sum() == _aid_sum()
    # An amount without lines: no stock moves, the aid reversal is spread over the lines.
    r = _refund(client, staff, order["id"], amount_fen=1000, reason="late pickup discount")
    assert r.status_code == 201 and r.json["order"]["refunded_fen"] == 3800
    assert reserved("CHL-LINE-500G", "DL-HM") == 2
    assert _aid_sum() == order["total_fen"] - 3800
    # The rest in full: everything released, status refunded.
    r = _refund(client, staff, order["id"], reason="cancel the rest")
    assert (
        r.json["order"]["status"] == "refunded"
        and r.json["refund"]["amount_fen"] == order["total_fen"] - 3800
    )
    assert reserved("CHL-LINE-500G", "DL-HM") == 0 and reserved("APL-HN-5KG", "DL-HM") == 0
    assert _aid_sum() == 0 and reconcile() == []


def test_refund_refusals_change_nothing(inline_outbox, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    there = create_user("op2@x.cn", role="operator", locations=["DL-WX"])
    unpaid = _place(client, buyer("u@x.cn"))
    assert _refund(client, staff, unpaid["id"], reason="x").status_code == 409
    order = _paid_order(client, staff)
    bad = [
        ({"amount_fen": order["total_fen"] + 1, "reason": "too much"}, 422),
        ({"amount_fen": 0, "reason": "zero"}, 422),
        ({"amount_fen": -5, "reason": "negative"}, 422),
        ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 4}], "reason": "more than bought"}, 422),
        ({"lines": [{"sku": "NOPE", "quantity": 1}], "reason": "not in order"}, 422),
        (
            {
                "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
                "amount_fen": 2801,
                "reason": "more than line",
            },
            422,
        ),
        ({"amount_fen": 100}, 422),
        ({"amount_fen": 100, "reason": "x", "price_fen": 1}, 422),
        ({"reason": "restock before handover", "restock_location": "DL-HM"}, 422),
    ]
    for body, status in bad:
        r = _refund(client, staff, order["id"], **body)
        assert r.status_code == status, (body, r.json)
        assert r.content_type == "application/problem+json"
    assert _refund(client, there, order["id"], reason="not mine").status_code == 403
    assert _refund(client, buyer("c@x.cn"), order["id"], reason="customer").status_code == 403
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
    assert db.session.get(Order, order["id"]).refunded_fen == 0 and _aid_sum() == order["total_fen"]


def test_refund_creation_is_idempotent(inline_outbox, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order = _paid_order(client, staff)
    h = {"Idempotency-Key": "refund-once"}
    r1 = _refund(client, staff, order["id"], headers=h, amount_fen=500, reason="goodwill")
    r2 = _refund(client, staff, order["id"], headers=h, amount_fen=500, reason="goodwill")
    assert r1.status_code == r2.status_code == 201 and r1.json == r2.json
    assert (
        _refund(client, staff, order["id"], headers=h, amount_fen=600, reason="goodwill").status_code == 422
    )
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1


def test_staff_cancelling_a_paid_order_is_a_full_refund(inline_outbox, client):
    """Staff of the order's location cancel a paid order at once (its buyer asks: tests/returns)."""
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    b = buyer()
    order = _paid_order(client, staff, b)
    r = client.post(
        f"/api/v1/orders/{order['id']}/cancel", json={"reason": "no longer needed"}, headers=auth(staff)
    )
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert r.json["refunded_fen"] == order["total_fen"] and r.json["refunds"][0]["status"] == "pending"
    db.session.rollback()
    assert db.session.scalar(select(Refund.status)) == "succeeded"  # sent by the task after the commit
    assert reserved("CHL-LINE-500G", "DL-HM") == 0 and _aid_sum() == 0 and reconcile() == []


def test_returned_goods_go_back_to_stock(inline_outbox, client):
    """After hand-over (simulated: the reservation taken as fulfilment will do), goods that come back
    are put back with a ``return`` movement and the order becomes partially refunded."""
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order = _paid_order(client, staff)
    with atomic():
        o = db.session.get(Order, order["id"])
        hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        for line in o.lines:
            take_stock(
                db.session.get(Variant, line.variant_id),
                hall,
                line.quantity,
                kind="sale",
                from_reserved=True,
                reference=o.reference_key,
            )
        o.reservation_state = "consumed"
        advance(o, "fulfilling")
        advance(o, "ready_for_pickup")
        advance(o, "completed")
    on_hand = level("CHL-LINE-500G", "DL-HM").on_hand
    r = _refund(
        client,
        staff,
        order["id"],
        lines=[{"sku": "CHL-LINE-500G", "quantity": 2}],
        reason="returned",
        restock_location="DL-HM",
    )
    assert r.status_code == 201, r.json
    assert r.json["order"]["status"] == "partially_refunded"
    assert level("CHL-LINE-500G", "DL-HM").on_hand == on_hand + 2
    from shop.inventory.models import StockMovement

    mv = db.session.scalar(select(StockMovement).where(StockMovement.kind == "return"))
    assert mv.quantity == 2 and mv.reference == f"refund:{r.json['refund']['id']}"
    assert reconcile() == []
