"""Fulfilment use cases: the pipeline a paid order goes through, and the operators' actions.

Pipeline (each step a task, ``workers/fulfilment.py``; each reloads the order, locks it, checks its state
and does nothing when the step is already done, so a redelivered message changes nothing):

1. ``pick_order``: paid -> fulfilling. The reservation becomes ``online_sale`` movements on specific lots,
   first-expiry-first, in the same transaction that consumes the reservation and queues step 2.
2. ``prepare_handover``: the shipment (awaiting the courier) or the pickup ticket (a code for the buyer;
   the order becomes ready_for_pickup), and the buyer's notice, queued with the change.

Operators then ship (courier and tracking number) and mark delivered, or hand over by code; the order
completes. Status changes go through ``shop.orders.states.advance`` only.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime

from flask import current_app
from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from shop.accounts.auth import ensure_location_access
from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog.models import Location, Variant
from shop.core import clock, outbox
from shop.core.db import db, utcnow
from shop.core.limits import failure_throttle
from shop.core.outbox import enqueue
from shop.fulfilment.errors import (
    InvalidShipment,
    NothingToShip,
    NotRetryable,
    NotShipped,
    PickupNotFound,
    TooManyWrongCodes,
)
from shop.fulfilment.models import COURIERS, PickupTicket, Shipment
from shop.inventory import services as stock
from shop.inventory.errors import InsufficientStock
from shop.inventory.queries import location_for as inventory_location_for
from shop.inventory.queries import user_locations
from shop.notifications.services import notify, notify_many
from shop.orders import lifecycle as orders
from shop.orders.errors import BadTransition
from shop.orders.models import Order
from shop.orders.states import advance, advance_many, can_move

SALE_KIND = "online_sale"
TRACKING_RE = re.compile(r"[A-Za-z0-9-]{6,40}")
CODE_RE = re.compile(r"\d{6}")


def _step_delay() -> None:
    """Test and chaos knob: hold the open transaction so a crash test can kill a worker mid-step."""
    delay = current_app.extensions["settings"].FULFILMENT_STEP_DELAY_MS
    if delay:
        time.sleep(delay / 1000)


# -- the pipeline (tasks) ---------------------------------------------------------------------------


def pick_order(order_id: int, *, now: datetime | None = None) -> str:
    """Turn a paid order's reservation into sale movements on specific lots; return what happened.

    Lines are taken in ascending stock-level order (as reservations are), so two orders with the same
    SKUs cannot deadlock. When reserved units are only left in lots past their best-before date the
    order is flagged for staff and stays paid; nothing is taken.
    """
    return _pick_locked(orders.lock_order(order_id), now or utcnow())


def _pickable(order: Order) -> bool:
    return order.status == "paid" and order.reservation_state == "held"


def _pick_locked(order: Order, now: datetime) -> str:
    if not _pickable(order):
        return f"skipped: order is {order.status}, reservation {order.reservation_state}"
    location = order.location
    wanted = [
        (line.variant_id, line.quantity - line.refunded_quantity)
        for line in order.lines
        if line.quantity - line.refunded_quantity > 0
    ]
    # The lines' variants and stock levels in one statement each, not one (or two) per line.
    ids = sorted({variant_id for variant_id, _ in wanted})
    variants = {v.id: v for v in db.session.scalars(select(Variant).where(Variant.id.in_(ids)))}
    levels = stock.level_ids(ids, location.id)
    todo = sorted(((levels[vid], variants[vid], qty) for vid, qty in wanted), key=lambda t: t[0])
    try:
        with db.session.begin_nested():
            for _level, variant, qty in todo:
                stock.take_stock(
                    variant,
                    location,
                    qty,
                    kind=SALE_KIND,
                    from_reserved=True,
                    on=clock.local_day(now),
                    reason="online order",
                    reference=order.reference_key,
                )
    except InsufficientStock as err:
        note = f"cannot be fulfilled at {location.code}: {err.detail}"
        if note not in order.attention_note:
            orders.flag(order, note + " (refund it, or receive fresh stock and retry fulfilment)")
        return f"short: {err.detail}"
    advance(order, "fulfilling", reason="stock picked from lots", reservation_state="consumed")
    enqueue("shop.fulfilment.prepare_handover", {"order_id": order.id}, queue="fulfilment")
    _step_delay()
    return "picked"


def _new_code(location_id: int) -> str:
    for _ in range(20):
        code = f"{secrets.randbelow(1_000_000):06d}"
        taken = db.session.scalar(
            select(PickupTicket.id).where(
                PickupTicket.location_id == location_id,
                PickupTicket.code == code,
                PickupTicket.status == "ready",
            )
        )
        if taken is None:
            return code
    raise RuntimeError(f"no free pickup code at location {location_id}")  # pragma: no cover


def _add_ticket(order: Order) -> PickupTicket:
    location_id = order.pickup_location_id or order.location_id
    for _ in range(5):
        ticket = PickupTicket(order_id=order.id, location_id=location_id, code=_new_code(location_id))
        try:
            with db.session.begin_nested():
                db.session.add(ticket)
        except IntegrityError:  # another order drew the same code at the same moment: draw again
            continue
        return ticket
    raise RuntimeError("could not draw a unique pickup code")  # pragma: no cover


def prepare_handover(order_id: int) -> str:
    """Create the order's shipment or pickup ticket and queue the buyer's notice (once)."""
    order = orders.lock_order(order_id)
    if order.status != "fulfilling":
        return f"skipped: order is {order.status}"
    if order.delivery_type == "pickup":
        if db.session.scalar(select(PickupTicket.id).where(PickupTicket.order_id == order.id)):
            return "skipped: ticket exists"
        ticket = _add_ticket(order)
        advance(order, "ready_for_pickup", reason="ready at the hall")
        _tell_buyer(order, "ready_for_pickup", code=ticket.code)
        _step_delay()
        return "ready for pickup"
    if db.session.scalar(select(Shipment.id).where(Shipment.order_id == order.id)):
        return "skipped: shipment exists"
    db.session.add(Shipment(order_id=order.id, location_id=order.location_id))
    db.session.flush()
    _tell_buyer(order, "preparing")
    _step_delay()
    return "awaiting dispatch"


# -- the pipeline in batches (a deep queue) ----------------------------------------------------------

PICK_TASK = "shop.fulfilment.fulfil_order"
PICKED_ELSEWHERE = "skipped: picked in another task's batch"


def pick_waiting(order_id: int, *, now: datetime | None = None) -> str:
    """The pick step as its task runs it: this order, and other paid orders whose pick messages wait
    in the outbox (up to FULFILMENT_BATCH_SIZE in all), in one transaction and a fixed number of
    statements (``stock.take_reserved_many``, ``advance_many``); one hand-over message for all of them.

    The task's own message is read first: a batch of another task that took it has completed it, and
    then this one does nothing (one read). Other orders are taken only if nobody holds their message or their row
    (SKIP LOCKED), and their messages complete with this transaction; a crash loses or doubles nothing,
    as for one order. When the batch cannot be picked as a whole (stock short, only expired lots) this
    order is picked alone, as ``pick_order`` does, and the others wait for their own messages.
    """
    held = outbox.running_message_open()
    if held is False:
        return PICKED_ELSEWHERE
    now = now or utcnow()
    order = orders.lock_order(order_id)
    size = current_app.extensions["settings"].FULFILMENT_BATCH_SIZE
    if held is None or size <= 1 or not _pickable(order):
        return _pick_locked(order, now)
    messages: dict[int, list[int]] = {}
    for message_id, payload in outbox.claim_waiting(PICK_TASK, size - 1):
        other = payload.get("order_id") if isinstance(payload, dict) else None
        if isinstance(other, int) and other != order.id:
            messages.setdefault(other, []).append(message_id)
    others = orders.lock_paid_orders(sorted(messages)) if messages else []
    if not others:
        return _pick_locked(order, now)
    batch = sorted([order, *others], key=lambda o: o.id)
    wanted = [
        stock.ReservedTake(
            line.variant_id, o.location_id, line.quantity - line.refunded_quantity, o.reference_key
        )
        for o in batch
        for line in o.lines
        if line.quantity - line.refunded_quantity > 0
    ]
    # The stock levels are the rows every batch and checkout wants (a hot SKU's level is in most of
    # them), so they are locked last: the orders (locked already) change status first, and the levels
    # stay locked for the stock writes and the commit only, not for the status changes too.
    try:
        with db.session.begin_nested():
            advance_many(batch, "fulfilling", reason="stock picked from lots", reservation_state="consumed")
            if wanted:
                stock.take_reserved_many(
                    wanted, kind=SALE_KIND, on=clock.local_day(now), reason="online order"
                )
    except InsufficientStock:
        # advance_many set the orders' loaded state to what the rolled-back UPDATE returned.
        for o in batch:
            db.session.expire(o)
        return _pick_locked(order, now)
    outbox.complete_claimed([m for o in others for m in messages[o.id]], with_running=True)
    enqueue("shop.fulfilment.prepare_handover", {"order_ids": [o.id for o in batch]}, queue="fulfilment")
    _step_delay()
    return f"picked {len(batch)} orders"


def prepare_handovers(order_ids: list[int]) -> str:
    """``prepare_handover`` for the orders of one picked batch, in one transaction and a fixed number of
    statements: their tickets and parcels inserted together, the pickups advanced together, the buyers'
    notices queued together. Orders done already (a redelivered message) are left as they are."""
    ids = sorted({int(i) for i in order_ids})
    batch = [o for o in orders.lock_orders(ids) if o.status == "fulfilling"]
    if not batch:
        return "skipped: no order waiting for its hand-over"
    todo = [o.id for o in batch]
    ticketed = set(db.session.scalars(select(PickupTicket.order_id).where(PickupTicket.order_id.in_(todo))))
    shipped = set(db.session.scalars(select(Shipment.order_id).where(Shipment.order_id.in_(todo))))
    pickups = [o for o in batch if o.delivery_type == "pickup" and o.id not in ticketed]
    parcels = [o for o in batch if o.delivery_type != "pickup" and o.id not in shipped]
    codes = _add_tickets(pickups)
    advance_many(pickups, "ready_for_pickup", reason="ready at the hall")
    if parcels:
        db.session.execute(
            insert(Shipment), [{"order_id": o.id, "location_id": o.location_id} for o in parcels]
        )
    buyers = _buyers({o.user_id for o in pickups + parcels})
    notify_many(
        [_notice(o, "ready_for_pickup", buyers[o.user_id], code=codes[o.id]) for o in pickups]
        + [_notice(o, "preparing", buyers[o.user_id]) for o in parcels]
    )
    _step_delay()
    return f"{len(pickups)} ready for pickup, {len(parcels)} awaiting dispatch"


def _add_tickets(pickups: list[Order]) -> dict[int, str]:
    """Pickup tickets for several orders in one INSERT: codes drawn until none is open at its hall."""
    if not pickups:
        return {}
    hall = {o.id: o.pickup_location_id or o.location_id for o in pickups}
    codes: dict[int, str] = {}
    for _ in range(20):
        drawn = {oid: f"{secrets.randbelow(1_000_000):06d}" for oid in hall if oid not in codes}
        if not drawn:
            break
        keys = [(hall[oid], code) for oid, code in drawn.items()]
        taken = {
            (row.location_id, row.code)
            for row in db.session.execute(
                select(PickupTicket.location_id, PickupTicket.code).where(
                    PickupTicket.status == "ready",
                    tuple_(PickupTicket.location_id, PickupTicket.code).in_(keys),
                )
            )
        }
        taken |= {(hall[oid], code) for oid, code in codes.items()}
        for oid, code in drawn.items():
            if (hall[oid], code) not in taken:
                codes[oid] = code
                taken.add((hall[oid], code))
    if len(codes) < len(hall):  # pragma: no cover - twenty draws of a million codes
        raise RuntimeError("no free pickup codes for a batch")
    try:
        with db.session.begin_nested():
            db.session.execute(
                insert(PickupTicket),
                [{"order_id": oid, "location_id": hall[oid], "code": code} for oid, code in codes.items()],
            )
    except IntegrityError:  # another hand-over drew one of these codes at the same moment: one by one
        return {o.id: _add_ticket(o).code for o in pickups}
    return codes


# -- what the buyer is told -------------------------------------------------------------------------

COURIER_NAMES = {
    "sf": ("顺丰速运", "SF Express"),
    "jd": ("京东物流", "JD Logistics"),
    "ems": ("中国邮政EMS", "China Post EMS"),
    "zto": ("中通快递", "ZTO Express"),
    "yto": ("圆通速递", "YTO Express"),
    "sto": ("申通快递", "STO Express"),
    "yunda": ("韵达快递", "Yunda Express"),
    "jtexpress": ("极兔速递", "J&T Express"),
    "deppon": ("德邦快递", "Deppon Express"),
    "cold_chain": ("冷链配送", "Cold-chain delivery"),
    "other": ("其他快递", "Other courier"),
}


def courier_label(shipment: Shipment) -> tuple[str, str]:
    zh, en = COURIER_NAMES.get(shipment.courier, (shipment.courier, shipment.courier))
    if shipment.courier_note:
        return f"{zh}（{shipment.courier_note}）", f"{en} ({shipment.courier_note})"
    return zh, en


def _notice(order: Order, kind: str, user: User, *, ref: object = "", **facts: str) -> dict:
    """What the buyer of ``order`` is told at step ``kind`` (``notify``'s arguments)."""
    if kind == "ready_for_pickup":
        hall = order.pickup_location or order.location
        zh = f"订单已备好，请到{hall.name_zh}（{hall.address}）出示提货码 {facts['code']} 取货。"
        en = f"Your order is ready at {hall.name_en} ({hall.address}). Show pickup code {facts['code']}."
    elif kind == "preparing":
        zh, en = (
            "订单正在备货，发货后会告诉您快递单号。",
            "Your order is being packed; we send the tracking number once it ships.",
        )
    elif kind == "shipped":
        zh = f"订单已发货：{facts['courier_zh']}，单号 {facts['tracking']}。"
        en = f"Your order has shipped: {facts['courier_en']}, tracking number {facts['tracking']}."
    else:  # completed
        zh, en = (
            "订单已完成，谢谢您对甘谷消费帮扶的支持！",
            "Your order is complete. Thank you for supporting Gangu!",
        )
    link = f"{current_app.extensions['settings'].PUBLIC_BASE_URL.rstrip('/')}/orders/{order.id}"
    return {
        "dedupe_key": f"order:{order.id}:{kind}:{ref}",
        "kind": f"order_{kind}",
        "subject": f"{zh.split('，')[0].split('：')[0]} · {order.number}"[:200],
        "body": f"{zh}\n{en}\n\n订单号 Order {order.number}\n{link}",
        "user": user,
    }


def _buyers(user_ids: set[int]) -> dict[int, User]:
    # Their ids and emails are what a notice needs: not the locations a staff account would load with it.
    return {
        u.id: u
        for u in db.session.scalars(
            select(User).where(User.id.in_(sorted(user_ids))).options(lazyload(User.locations))
        )
    }


def _tell_buyer(order: Order, kind: str, *, ref: object = "", **facts: str) -> None:
    user = db.session.get(User, order.user_id, options=[lazyload(User.locations)])
    notify(**_notice(order, kind, user, ref=ref, **facts))


# -- operator actions -------------------------------------------------------------------------------


def _shipment_of(order: Order) -> Shipment | None:
    return db.session.scalar(select(Shipment).where(Shipment.order_id == order.id))


def _check_shipping(courier: str, tracking_number: str, courier_note: str) -> tuple[str, str, str]:
    errors = []
    courier = (courier or "").strip()
    tracking = (tracking_number or "").strip().upper()
    note = (courier_note or "").strip()[:60]
    if courier not in COURIERS:
        errors.append({"field": "courier", "message": f"one of {', '.join(COURIERS)}"})
    if not TRACKING_RE.fullmatch(tracking):
        errors.append({"field": "tracking_number", "message": "6 to 40 letters, digits or dashes"})
    if courier == "other" and not note:
        errors.append({"field": "courier_note", "message": "name the courier"})
    if errors:
        raise InvalidShipment("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return courier, tracking, note


def ship_order(
    order_id: int, *, staff: User, courier: str, tracking_number: str, courier_note: str = ""
) -> Shipment:
    """Record that the parcel left with ``courier`` under ``tracking_number``; the order is shipped.

    Sending the same details again changes nothing; different details on a shipped parcel correct a
    typo (audited, and the buyer is told the new number).
    """
    courier, tracking, note = _check_shipping(courier, tracking_number, courier_note)
    order = orders.lock_order(order_id)
    ensure_location_access(staff, order.location)
    shipment = _shipment_of(order)
    if shipment is None or shipment.status in ("delivered", "cancelled"):
        raise NothingToShip(f"order {order.number} has no parcel waiting to be shipped")
    if shipment.status == "shipped":
        if (shipment.courier, shipment.tracking_number, shipment.courier_note) == (courier, tracking, note):
            return shipment
        action = "shipment.corrected"
    else:
        if order.status != "fulfilling":
            raise BadTransition(
                f"order {order.number} is {order.status}; it cannot be shipped", status_now=order.status
            )
        advance(order, "shipped", actor_id=staff.id, reason=f"shipped with {courier} {tracking}")
        shipment.status = "shipped"
        shipment.shipped_at = utcnow()
        shipment.shipped_by_id = staff.id
        action = "shipment.shipped"
    shipment.courier, shipment.tracking_number, shipment.courier_note = courier, tracking, note
    db.session.flush()
    zh, en = courier_label(shipment)
    _tell_buyer(order, "shipped", ref=tracking, courier_zh=zh, courier_en=en, tracking=tracking)
    record(
        staff,
        action,
        target_type="order",
        target_id=order.id,
        number=order.number,
        courier=courier,
        tracking_number=tracking,
    )
    return shipment


def mark_delivered(order_id: int, *, staff: User) -> Shipment:
    """Record that the buyer received the parcel; the order completes (once)."""
    order = orders.lock_order(order_id)
    ensure_location_access(staff, order.location)
    shipment = _shipment_of(order)
    if shipment is None or shipment.status in ("awaiting_dispatch", "cancelled"):
        raise NotShipped(f"order {order.number} has not been shipped")
    if shipment.status == "delivered":
        return shipment
    shipment.status = "delivered"
    shipment.delivered_at = utcnow()
    shipment.delivered_by_id = staff.id
    db.session.flush()
    _complete(order, staff, reason="delivered")
    record(staff, "shipment.delivered", target_type="order", target_id=order.id, number=order.number)
    return shipment


def _complete(order: Order, staff: User, *, reason: str) -> None:
    # A partially refunded order keeps that status: it is what staff and reports must see.
    if can_move(order.status, "completed"):
        advance(order, "completed", actor_id=staff.id, reason=reason, closed_at=utcnow())
        _tell_buyer(order, "completed")


def open_ticket(location: Location, code: str, *, staff: User) -> PickupTicket:
    """The pickup waiting at ``location`` with ``code`` (404 problem when there is none).

    Wrong codes count against ``staff`` at this location; after RATE_LIMIT_PICKUP_CODES of them every
    lookup is refused (429) for a while, so the codes, the buyer's proof at the counter, cannot be found
    by trying them in turn.
    """
    throttle = failure_throttle("pickup-codes", "RATE_LIMIT_PICKUP_CODES")
    key = (location.code, str(staff.id))
    if throttle and (wait := throttle.retry_after(*key)):
        raise TooManyWrongCodes(
            f"too many wrong pickup codes at {location.code}; try again in {wait} s", retry_after=wait
        )
    code = (code or "").strip()
    ticket = None
    if CODE_RE.fullmatch(code):
        ticket = db.session.scalar(
            select(PickupTicket).where(
                PickupTicket.location_id == location.id,
                PickupTicket.code == code,
                PickupTicket.status == "ready",
            )
        )
    if ticket is None:
        if throttle:  # counted now, not after commit: the caller's transaction rolls back on this error
            throttle.failed(*key)
        raise PickupNotFound(
            f"no pickup is waiting at {location.code} with code {code!r}",
            errors=[{"field": "code", "message": "no pickup waiting with this code"}],
        )
    return ticket


def pickup_waiting(location: Location, code: str, *, staff: User) -> Order:
    """The order whose pickup waits at ``location`` under ``code`` (to show before handing it over)."""
    return orders.get_order(open_ticket(location, code, staff=staff).order_id)


def hand_over(location: Location, code: str, *, staff: User) -> Order:
    """Give the buyer the goods of the pickup with ``code`` at ``location``; the order completes."""
    ensure_location_access(staff, location)
    ticket = open_ticket(location, code, staff=staff)
    order = orders.lock_order(ticket.order_id)
    db.session.refresh(ticket)
    if ticket.status != "ready" or order.status not in ("ready_for_pickup", "partially_refunded"):
        raise PickupNotFound(f"the pickup with code {code} is no longer waiting (order is {order.status})")
    ticket.status = "handed_over"
    ticket.handed_over_at = utcnow()
    ticket.handed_over_by_id = staff.id
    db.session.flush()
    _complete(order, staff, reason="handed over at the hall")
    record(staff, "pickup.handed_over", target_type="order", target_id=order.id, number=order.number)
    return order


def void_handover(order: Order) -> str:
    """Cancel the hand-over of an order (its row locked by the caller) that has nothing left to hand
    over, refunded in full before the goods left: its waiting pickup ticket can no longer be handed
    over and frees its code, its parcel not yet shipped leaves the dispatch list. Return what happened.
    """
    if order.status not in ("refunded", "cancelled"):
        return f"kept: order is {order.status}"
    done = []
    ticket = db.session.scalar(select(PickupTicket).where(PickupTicket.order_id == order.id))
    if ticket is not None and ticket.status == "ready":
        ticket.status = "cancelled"
        done.append(f"pickup code {ticket.code} cancelled")
    shipment = _shipment_of(order)
    if shipment is not None and shipment.status == "awaiting_dispatch":
        shipment.status = "cancelled"
        done.append("parcel cancelled")
    db.session.flush()
    return "; ".join(done) or "nothing to cancel"


def retry_fulfilment(order_id: int, *, staff: User) -> Order:
    """Queue the pipeline again for a paid order that was not picked (short stock fixed, a lost step).

    Safe whatever the order's state: each step checks it. Refused once the goods were handed over.
    """
    order = orders.lock_order(order_id)
    ensure_location_access(staff, order.location)
    if order.status == "paid" and order.reservation_state == "held":
        task = "shop.fulfilment.fulfil_order"
    elif order.status == "fulfilling":
        task = "shop.fulfilment.prepare_handover"
    else:
        raise NotRetryable(f"order {order.number} is {order.status}; there is no fulfilment step left to run")
    enqueue(task, {"order_id": order.id}, queue="fulfilment")
    record(staff, "fulfilment.retried", target_type="order", target_id=order.id, number=order.number)
    return order


# -- lookups for the API and pages ------------------------------------------------------------------


def location_for(user: User, code: str) -> Location:
    """The location ``code`` if ``user`` may act there (404 when unknown, 403 when not theirs)."""
    return inventory_location_for(user, code)


def order_for_staff(order_id: int, user: User) -> Order:
    """The order if ``user`` may act at its location (404 when unknown, 403 when not theirs)."""
    order = orders.get_order(order_id)
    ensure_location_access(user, order.location)
    return order


def staff_locations(user: User) -> list[Location]:
    """Where ``user`` fulfils orders: an operator's granted locations; every stock location for admins."""
    return user_locations(user)
