"""A refund while the goods are picked but still in the shop (issue #13, item 4).

The rule (docs/orders.md): the refunded units go back into the lots they were picked from, through the
stock ledger (``pick_returned`` movements), and a pickup ticket or parcel left with nothing to hand over
is cancelled, so its code no longer works. Stock and aid reconcile with zero drift.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.aid.reconcile import reconcile as reconcile_aid
from shop.catalog.services import get_location
from shop.core.db import atomic, db
from shop.fulfilment import services
from shop.fulfilment.errors import NothingToShip, PickupNotFound
from shop.fulfilment.models import PickupTicket, Shipment
from shop.inventory.models import Lot, StockMovement
from shop.inventory.services import reconcile
from shop.payments.errors import InvalidRefund
from shop.returns.services import refund_order
from tests.fulfilment.helpers import SHIP, order, paid_order
from tests.fulfilment.helpers import operator as make_operator
from tests.orders.helpers import buyer, level


def _no_drift() -> None:
    db.session.rollback()
    assert reconcile() == []
    run = reconcile_aid(trigger="test")
    assert run.status == "ok" and run.difference_count == 0, run.differences


def _lots(sku: str, code: str) -> dict[str, int]:
    db.session.rollback()
    return {
        lot.code: lot.quantity
        for lot in db.session.scalars(
            select(Lot).join(Lot.variant).where(Lot.location_id == get_location(code).id)
        )
        if lot.variant.sku == sku
    }


def _ticket(order_id: int) -> PickupTicket:
    db.session.rollback()
    return db.session.scalar(select(PickupTicket).where(PickupTicket.order_id == order_id))


def test_a_full_refund_at_the_hall_puts_the_goods_back_and_cancels_the_code(shop):
    staff = make_operator()
    before = level("CHL-LINE-500G", "DL-HM").on_hand
    lots_before = _lots("CHL-LINE-500G", "DL-HM")
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 2)])  # inline: picked, ticket ready
    assert order(order_id).status == "ready_for_pickup" and order(order_id).reservation_state == "consumed"
    assert level("CHL-LINE-500G", "DL-HM").on_hand == before - 2
    code = _ticket(order_id).code

    with atomic():
        refund_order(order_id, staff=staff, reason="buyer will not come")

    assert order(order_id).status == "refunded"
    assert level("CHL-LINE-500G", "DL-HM").on_hand == before and level("CHL-LINE-500G", "DL-HM").reserved == 0
    assert _lots("CHL-LINE-500G", "DL-HM") == lots_before  # the same lots they were picked from
    back = db.session.scalars(select(StockMovement).where(StockMovement.kind == "pick_returned")).all()
    assert sum(m.quantity for m in back) == 2 and all(m.lot_id for m in back)
    assert _ticket(order_id).status == "cancelled"
    hall = get_location("DL-HM")
    with pytest.raises(PickupNotFound), atomic():
        services.hand_over(hall, code, staff=staff)
    _no_drift()


def test_a_partial_refund_at_the_hall_keeps_the_rest_waiting(shop):
    staff = make_operator()
    before = level("CHL-LINE-500G", "DL-HM").on_hand
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 3)])
    with atomic():
        refund_order(
            order_id, staff=staff, reason="one bag torn", lines=[{"sku": "CHL-LINE-500G", "quantity": 1}]
        )
    assert order(order_id).status == "ready_for_pickup"  # not handed over yet: the rest still waits
    assert level("CHL-LINE-500G", "DL-HM").on_hand == before - 2
    ticket = _ticket(order_id)
    assert ticket.status == "ready"
    with atomic():
        services.hand_over(get_location("DL-HM"), ticket.code, staff=staff)
    assert order(order_id).status == "completed"
    # The rest refunded later, after hand-over: nothing goes back unless it is returned.
    with atomic():
        refund_order(order_id, staff=staff, reason="goodwill", amount_fen=500)
    assert order(order_id).status == "partially_refunded"
    assert level("CHL-LINE-500G", "DL-HM").on_hand == before - 2
    _no_drift()


def test_refunds_in_steps_never_put_back_more_than_was_picked(shop):
    staff = make_operator()
    before = level("CHL-LINE-500G", "DL-HM").on_hand
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 3)])
    for _ in range(3):
        with atomic():
            refund_order(
                order_id, staff=staff, reason="step", lines=[{"sku": "CHL-LINE-500G", "quantity": 1}]
            )
    assert order(order_id).status == "refunded" and _ticket(order_id).status == "cancelled"
    assert level("CHL-LINE-500G", "DL-HM").on_hand == before
    _no_drift()


def test_restocking_picked_goods_elsewhere_is_refused_with_a_clear_message(shop):
    staff = make_operator()
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 1)])
    with pytest.raises(InvalidRefund) as err, atomic():
        refund_order(order_id, staff=staff, reason="x", restock_location="DL-HM")
    assert "go back on the shelf" in err.value.detail
    assert order(order_id).status == "ready_for_pickup"
    _no_drift()


def test_a_parcel_refunded_before_it_ships_goes_back_and_leaves_the_dispatch_list(shop):
    staff = make_operator()
    before = level("APL-HN-5KG", "GG-WH").on_hand
    order_id = paid_order(buyer(), staff, lines=[("APL-HN-5KG", 2)], delivery=SHIP)
    assert order(order_id).status == "fulfilling" and order(order_id).location.code == "GG-WH"
    with atomic():
        refund_order(order_id, staff=staff, reason="changed address")
    assert order(order_id).status == "refunded"
    assert level("APL-HN-5KG", "GG-WH").on_hand == before
    db.session.rollback()
    assert db.session.scalar(select(Shipment.status).where(Shipment.order_id == order_id)) == "cancelled"
    with pytest.raises(NothingToShip), atomic():
        services.ship_order(order_id, staff=staff, courier="sf", tracking_number="SF1234567890")
    _no_drift()


def test_the_buyer_page_no_longer_shows_a_cancelled_code(shop):
    from shop.orders.services import order_details

    staff = make_operator()
    order_id = paid_order(buyer(), staff)
    with atomic():
        refund_order(order_id, staff=staff, reason="x")
    fulfilment = order_details(order(order_id)).fulfilment
    assert fulfilment["status"] == "cancelled" and fulfilment["code"] is None
