"""The fulfilment pipeline in process: paid -> picked from lots -> shipment or pickup ticket -> handed
over or shipped and delivered -> completed, on PostgreSQL and the embedded SQLite default."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import atomic, db
from shop.fulfilment import services
from shop.fulfilment.errors import InvalidShipment, NothingToShip, NotShipped, PickupNotFound
from shop.fulfilment.models import PickupTicket, Shipment
from shop.inventory.models import Lot, StockLevel
from shop.inventory.services import add_stock, reconcile
from shop.orders.errors import BadTransition
from shop.orders.services import cancel_order
from tests.fulfilment.helpers import (
    SHIP,
    handovers,
    notices,
    operator,
    order,
    paid_order,
    place,
    sale_movements,
)
from tests.orders.helpers import buyer


def _hall(code="DL-HM") -> Location:
    return db.session.scalar(select(Location).where(Location.code == code))


def _variant(sku) -> Variant:
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def _level(sku, code="DL-HM") -> StockLevel:
    db.session.rollback()
    return db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == _variant(sku).id, StockLevel.location_id == _hall(code).id
        )
    )


def test_paid_pickup_order_is_picked_first_expiry_first_and_ready_with_a_code(shop):
    staff = operator()
    veg = _variant("VEG-HL-10KG")
    with atomic():  # an older lot arrives after the seeded one: it must leave first
        add_stock(
            veg, _hall(), 3, kind="receipt", lot_code="VEG-OLD", best_before=clock.today() + timedelta(days=2)
        )
    before = _level("VEG-HL-10KG")
    on_hand, reserved = before.on_hand, before.reserved
    order_id = paid_order(buyer(), staff, lines=[("VEG-HL-10KG", 5), ("CHL-LINE-500G", 1)])

    o = order(order_id)
    assert o.status == "ready_for_pickup" and o.reservation_state == "consumed"
    picks = [(m.lot.code, -m.quantity) for m in sale_movements(order_id) if m.lot_id]
    seeded_lot = f"VEG-HL-10KG-{clock.today():%Y%m}"
    assert sorted(picks) == sorted(
        [("VEG-OLD", 3), (seeded_lot, 2), (f"CHL-LINE-500G-{clock.today():%Y%m}", 1)]
    )
    after = _level("VEG-HL-10KG")
    assert (after.on_hand, after.reserved) == (on_hand - 5, reserved)
    ticket = db.session.scalar(select(PickupTicket).where(PickupTicket.order_id == order_id))
    assert ticket.status == "ready" and len(ticket.code) == 6 and ticket.code.isdigit()
    assert notices(order_id, "ready_for_pickup") == 1
    assert reconcile() == []


def test_hand_over_by_code_completes_the_order_once(shop):
    staff = operator()
    order_id = paid_order(buyer(), staff)
    code = db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == order_id))
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(PickupNotFound), atomic():
        services.hand_over(_hall(), wrong, staff=staff)
    with atomic():
        services.hand_over(_hall(), code, staff=staff)
    assert order(order_id).status == "completed" and notices(order_id, "completed") == 1
    with pytest.raises(PickupNotFound), atomic():  # the code is spent
        services.hand_over(_hall(), code, staff=staff)
    other_hall = operator("op-wx@example.cn", locations=["DL-WX"])
    from shop.accounts.errors import LocationNotGranted

    with pytest.raises(LocationNotGranted), atomic():
        services.hand_over(_hall(), code, staff=other_hall)


def test_delivery_order_waits_for_courier_then_ships_and_completes(shop):
    staff = operator()
    order_id = paid_order(buyer(), staff, lines=[("PEP-DHP-250G", 2)], delivery=SHIP)
    o = order(order_id)
    assert o.status == "fulfilling" and o.location.code == "GG-WH"
    shipment = db.session.scalar(select(Shipment).where(Shipment.order_id == order_id))
    assert shipment.status == "awaiting_dispatch" and notices(order_id, "preparing") == 1
    with pytest.raises(NotShipped), atomic():
        services.mark_delivered(order_id, staff=staff)
    with pytest.raises(InvalidShipment) as bad, atomic():
        services.ship_order(order_id, staff=staff, courier="pigeon", tracking_number="x")
    assert {e["field"] for e in bad.value.errors} == {"courier", "tracking_number"}
    with atomic():
        services.ship_order(order_id, staff=staff, courier="sf", tracking_number="sf1234567890")
    with atomic():  # the same details again: nothing changes, nobody is told twice
        services.ship_order(order_id, staff=staff, courier="sf", tracking_number="SF1234567890")
    assert order(order_id).status == "shipped" and notices(order_id, "shipped") == 1
    with atomic():  # a typo corrected: the buyer hears the new number
        services.ship_order(order_id, staff=staff, courier="sf", tracking_number="SF1234567899")
    assert notices(order_id, "shipped") == 2
    with atomic():
        services.mark_delivered(order_id, staff=staff)
    with atomic():
        services.mark_delivered(order_id, staff=staff)
    assert order(order_id).status == "completed" and notices(order_id, "completed") == 1
    with pytest.raises(NothingToShip), atomic():
        services.ship_order(order_id, staff=staff, courier="sf", tracking_number="SF0000000000")
    assert reconcile() == []


def test_each_step_run_twice_changes_nothing_more(queued):
    staff = operator()
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 2), ("APL-HN-5KG", 1)])
    assert order(order_id).status == "paid"  # the message went to Redis; nobody ran it
    for _ in range(2):
        with atomic():
            services.pick_order(order_id)
    assert len(sale_movements(order_id)) == 2 + 2  # per line: one lot-less reservation line, one lot
    for _ in range(2):
        with atomic():
            services.prepare_handover(order_id)
    assert handovers(order_id) == 1 and notices(order_id, "ready_for_pickup") == 1
    assert order(order_id).status == "ready_for_pickup" and reconcile() == []


def test_concurrent_deliveries_of_the_same_step_pick_once(queued):
    """Two workers run the same message at the same moment: the order lock lets one pick."""
    app = queued
    staff = operator()
    order_ids = [paid_order(buyer(f"b{i}@example.cn"), staff, lines=[("CHL-LINE-500G", 1)]) for i in range(4)]
    outcomes = []

    def run(order_id):
        with app.app_context():
            try:
                with atomic():
                    outcomes.append(services.pick_order(order_id))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(oid,)) for oid in order_ids for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("picked") == 4
    for oid in order_ids:
        assert sum(-m.quantity for m in sale_movements(oid) if m.lot_id) == 1
    assert reconcile() == []


def test_multi_line_orders_in_opposite_line_order_do_not_deadlock(queued):
    app = queued
    staff = operator()
    ids = []
    for i in range(6):
        lines = [("CHL-LINE-500G", 1), ("PEP-DHP-250G", 1)]
        ids.append(paid_order(buyer(f"d{i}@example.cn"), staff, lines=lines if i % 2 else lines[::-1]))
    errors = []

    def run(order_id):
        with app.app_context():
            try:
                with atomic():
                    services.pick_order(order_id)
            except Exception as exc:  # a deadlock would surface here
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(oid,)) for oid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and all(order(i).status == "fulfilling" for i in ids) and reconcile() == []


def test_reserved_units_only_in_expired_lots_flag_the_order_until_fresh_stock_arrives(queued):
    staff = operator()
    order_id = paid_order(buyer(), staff, lines=[("VEG-HL-10KG", 2)])
    with atomic():  # the reserved lot went past its best-before while waiting
        db.session.execute(
            Lot.__table__.update()
            .where(Lot.variant_id == _variant("VEG-HL-10KG").id, Lot.location_id == _hall().id)
            .values(best_before=clock.today() - timedelta(days=1))
        )
    with atomic():
        assert services.pick_order(order_id).startswith("short")
    with atomic():  # a redelivery does not flag it twice
        services.pick_order(order_id)
    o = order(order_id)
    assert o.status == "paid" and o.reservation_state == "held" and o.needs_attention
    assert o.attention_note.count("cannot be fulfilled") == 1 and sale_movements(order_id) == []
    with atomic():
        add_stock(
            _variant("VEG-HL-10KG"),
            _hall(),
            5,
            kind="receipt",
            lot_code="VEG-FRESH",
            best_before=clock.today() + timedelta(days=9),
        )
        services.retry_fulfilment(order_id, staff=staff)
    with atomic():
        assert services.pick_order(order_id) == "picked"
    assert [m.lot.code for m in sale_movements(order_id) if m.lot_id] == ["VEG-FRESH"] and reconcile() == []


def test_refunded_units_are_not_picked_and_cancelled_orders_are_skipped(queued):
    from shop.returns.services import refund_order

    staff = operator()
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 3)])
    with atomic():
        refund_order(
            order_id, staff=staff, reason="one broke", lines=[{"sku": "CHL-LINE-500G", "quantity": 1}]
        )
    with atomic():
        services.pick_order(order_id)
    assert sum(-m.quantity for m in sale_movements(order_id) if m.lot_id) == 2

    b = buyer("c@example.cn")
    cancelled = paid_order(b, staff)
    with atomic():
        cancel_order(cancelled, actor=staff)  # staff cancel a paid order; its buyer would ask (shop.returns)
    with atomic():
        assert services.pick_order(cancelled).startswith("skipped")
    assert sale_movements(cancelled) == [] and reconcile() == []


def test_cannot_ship_a_pickup_order_or_retry_a_completed_one(shop):
    staff = operator()
    order_id = paid_order(buyer(), staff)
    with pytest.raises(NothingToShip), atomic():
        services.ship_order(order_id, staff=staff, courier="sf", tracking_number="SF1234567890")
    code = db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == order_id))
    with atomic():
        services.hand_over(_hall(), code, staff=staff)
    from shop.fulfilment.errors import NotRetryable

    with pytest.raises(NotRetryable), atomic():
        services.retry_fulfilment(order_id, staff=staff)


def test_unpaid_order_is_never_picked(queued):
    order_id = place(buyer(), [("CHL-LINE-500G", 1)])
    with atomic():
        assert services.pick_order(order_id).startswith("skipped")
    with pytest.raises(BadTransition), atomic():
        from shop.orders.lifecycle import lock_order
        from shop.orders.states import advance

        advance(lock_order(order_id), "fulfilling")
