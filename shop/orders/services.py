"""Order use cases: place an order (reserving stock), read orders, cancel, expire unpaid ones, accept a
payment, tell the buyer.

Every use case that changes an order first locks its row (``lock_order``), then decides on fresh state,
and changes the status only through ``states.advance`` (a conditional UPDATE on the status it saw).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, select, update
from sqlalchemy.orm import joinedload

from shop.accounts.models import User
from shop.aid.services import SaleLine, record_sale
from shop.catalog.models import Location, Producer, Product, Variant
from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.outbox import enqueue
from shop.orders import reservations
from shop.orders.errors import BadTransition, InvalidDelivery, InvalidLines, NotYourOrder, OrderNotFound
from shop.orders.models import Order, OrderLine
from shop.orders.states import advance

MAX_LINES = 50
MAX_QUANTITY = 999
# Delivery in Tianjin: free from 99 yuan, else a flat 10 yuan courier fee. Pickup is free.
FREE_SHIPPING_FROM_FEN = 9_900
SHIPPING_FEE_FEN = 1_000
TIANJIN_DISTRICTS = (
    "和平区",
    "河东区",
    "河西区",
    "南开区",
    "河北区",
    "红桥区",
    "东丽区",
    "西青区",
    "津南区",
    "北辰区",
    "武清区",
    "宝坻区",
    "滨海新区",
    "宁河区",
    "静海区",
    "蓟州区",
)


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int


@dataclass(frozen=True)
class DeliveryRequest:
    type: str  # ship | pickup
    location: str | None = None  # pickup hall code
    recipient: str = ""
    phone: str = ""
    district: str = ""
    street_address: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_order_number(now: datetime) -> str:
    """A number a buyer can read out at a hall: local date, seven random digits and a check digit."""
    day = clock.to_local(now).strftime("%y%m%d")
    while True:
        body = day + "".join(secrets.choice("0123456789") for _ in range(7))
        digits = body + _luhn_digit(body)
        number = f"{digits[:6]}-{digits[6:10]}-{digits[10:]}"
        if db.session.scalar(select(Order.id).where(Order.number == number)) is None:
            return number


def is_valid_number(number: str) -> bool:
    digits = number.replace("-", "").replace(" ", "")
    return len(digits) == 14 and digits.isdigit() and _luhn_digit(digits[:-1]) == digits[-1]


def _resolve_lines(lines: list[LineRequest]) -> list[tuple[Variant, int]]:
    if not lines:
        from shop.orders.errors import EmptyCart

        raise EmptyCart("an order needs at least one line", errors=[{"field": "lines", "message": "empty"}])
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    if len(merged) > MAX_LINES:
        raise InvalidLines(f"at most {MAX_LINES} different SKUs per order")
    errors = []
    resolved = []
    # One statement for every line: variant, product, producer and its certificates.
    found = {
        v.sku: v
        for v in db.session.scalars(
            select(Variant)
            .where(Variant.sku.in_(list(merged)))
            .options(
                joinedload(Variant.product).joinedload(Product.producer).joinedload(Producer.certificates)
            )
        ).unique()
    }
    for i, (sku, qty) in enumerate(merged.items()):
        variant = found.get(sku)
        if variant is None or not variant.active or not variant.product.active:
            errors.append({"field": f"lines.{i}.sku", "message": f"unknown SKU {sku}"})
        elif not isinstance(qty, int) or qty < 1 or qty > MAX_QUANTITY:
            errors.append({"field": f"lines.{i}.quantity", "message": f"must be 1 to {MAX_QUANTITY}"})
        else:
            resolved.append((variant, qty))
    if errors:
        raise InvalidLines("; ".join(e["message"] for e in errors), errors=errors)
    return resolved


def _pickup_hall(code: str | None, on) -> Location:
    loc = db.session.scalar(select(Location).where(Location.code == (code or "")))
    if loc is None or not loc.pickup or not loc.is_active_on(on):
        raise InvalidDelivery(
            f"{code!r} is not a pickup point",
            errors=[{"field": "delivery.location", "message": "not a pickup point"}],
        )
    return loc


def _check_address(d: DeliveryRequest) -> None:
    import re

    errors = []
    if not d.recipient.strip():
        errors.append({"field": "delivery.address.recipient", "message": "required"})
    if not re.fullmatch(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}", d.phone.strip()):
        errors.append({"field": "delivery.address.phone", "message": "a mainland mobile or landline number"})
    if d.district not in TIANJIN_DISTRICTS:
        errors.append({"field": "delivery.address.district", "message": "a district of Tianjin"})
    if len(d.street_address.strip()) < 4:
        errors.append({"field": "delivery.address.street_address", "message": "required"})
    if errors:
        raise InvalidDelivery("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def reservation_minutes(gateway: str) -> int:
    settings = current_app.extensions["settings"]
    return settings.MANUAL_RESERVATION_MINUTES if gateway == "manual" else settings.RESERVATION_MINUTES


def place_order(
    buyer: User, lines: list[LineRequest], delivery: DeliveryRequest, *, now: datetime | None = None
) -> Order:
    """Create a pending order at catalogue prices and reserve its stock at one location, or fail whole.

    Raises InvalidLines/InvalidDelivery (422) for bad input and InsufficientStock (409, naming the SKU)
    when no location can serve it; nothing is written then.
    """
    from shop.payments.gateway import configured_gateway_name

    now = now or utcnow()
    today = clock.local_day(now)
    resolved = _resolve_lines(lines)
    order = Order(
        user_id=buyer.id,
        status="pending_payment",
        gateway=configured_gateway_name(),
        buyer_kind=buyer.buyer_kind,
        invoice_title=buyer.invoice_title if buyer.buyer_kind == "work_unit" else "",
        tax_id=buyer.tax_id if buyer.buyer_kind == "work_unit" else "",
        delivery_type=delivery.type,
        delivery_note=delivery.note.strip()[:200],
        reservation_state="held",
        created_at=now,
    )
    if delivery.type == "pickup":
        hall = _pickup_hall(delivery.location, today)
        order.pickup_location = hall
        plan = [hall]
    elif delivery.type == "ship":
        _check_address(delivery)
        order.recipient = delivery.recipient.strip()
        order.phone = delivery.phone.strip()
        order.city = "天津市"
        order.district = delivery.district
        order.street_address = delivery.street_address.strip()
        plan = reservations.delivery_plan(resolved, on=today)
    else:
        raise InvalidDelivery("delivery type must be ship or pickup")

    subtotal = 0
    for variant, qty in resolved:
        product = variant.product
        cert = product.producer.certificate_on(today)
        order.lines.append(
            OrderLine(
                variant_id=variant.id,
                sku=variant.sku,
                name_zh=f"{product.name_zh} · {variant.name_zh}",
                name_en=f"{product.name_en} · {variant.name_en}",
                unit_zh=variant.unit_zh,
                unit_en=variant.unit_en,
                producer_id=product.producer_id,
                producer_name_zh=product.producer.name_zh,
                producer_name_en=product.producer.name_en,
                certificate_number=cert.number if cert else None,
                unit_price_fen=variant.price_fen,
                quantity=qty,
                line_total_fen=variant.price_fen * qty,
            )
        )
        subtotal += variant.price_fen * qty
    shipping = 0
    if delivery.type == "ship" and subtotal < FREE_SHIPPING_FROM_FEN:
        shipping = SHIPPING_FEE_FEN
    order.subtotal_fen = subtotal
    order.shipping_fen = shipping
    order.total_fen = subtotal + shipping
    order.number = new_order_number(now)
    order.reserved_until = now + timedelta(minutes=reservation_minutes(order.gateway))

    # The order's rows go in first and the stock last: a reservation locks the SKU's level row until
    # commit, so every statement after it would keep other buyers of that SKU waiting.
    order.location = plan[0]
    db.session.add(order)
    db.session.flush()
    from shop.orders.models import OrderStatusChange

    db.session.add(
        OrderStatusChange(order_id=order.id, from_status=None, to_status="pending_payment", actor_id=buyer.id)
    )
    location = reservations.reserve_first(plan, resolved, reference=order.reference_key, on=today)
    if location is not order.location:  # the first choice sold out meanwhile (rare)
        order.location = location
        db.session.flush()
    return order


# -- reading ----------------------------------------------------------------------------------------


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} does not exist")
    return order


def order_by_number(number: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.number == number.strip()))
    if order is None:
        raise OrderNotFound(f"order {number} does not exist")
    return order


def can_view(user: User, order: Order) -> bool:
    return (
        order.user_id == user.id or user.role in ("admin", "aid_officer") or user.can_act_at(order.location)
    )


def order_for_viewer(order_id: int, viewer: User) -> Order:
    """Return the order if ``viewer`` is its buyer or staff responsible for it (404 otherwise)."""
    order = db.session.get(Order, order_id)
    if order is None or not can_view(viewer, order):
        # Do not reveal other people's order ids.
        raise OrderNotFound(f"order {order_id} does not exist")
    return order


def ensure_buyer(order: Order, user: User) -> None:
    if order.user_id != user.id and user.role != "admin":
        raise NotYourOrder("only the buyer can do this")


def orders_query(
    viewer: User, *, mine_only: bool = True, status: str | None = None, attention: bool | None = None
) -> Select:
    stmt = select(Order)
    if mine_only or viewer.role == "customer":
        stmt = stmt.where(Order.user_id == viewer.id)
    elif viewer.role == "operator":
        ids = [loc.id for loc in viewer.locations]
        stmt = stmt.where(Order.location_id.in_(ids))
    if status:
        stmt = stmt.where(Order.status == status)
    if attention is not None:
        stmt = stmt.where(Order.needs_attention.is_(attention))
    return stmt.order_by(Order.created_at.desc(), Order.id.desc())


def notices_for(order: Order) -> list:
    """The buyer's notifications about this order, oldest first."""
    from shop.notifications.models import Notification

    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == order.user_id, Notification.dedupe_key.like(f"order:{order.id}:%"))
            .order_by(Notification.id)
        )
    )


# -- changing ---------------------------------------------------------------------------------------


def lock_order(order_id: int) -> Order:
    """Lock the order row for this transaction and return it freshly loaded.

    A no-op UPDATE takes the row lock on PostgreSQL (SQLite already holds the database write lock), so
    everything decided after this sees the latest committed state and no concurrent change interleaves.
    """
    res = db.session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(id=Order.id)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise OrderNotFound(f"order {order_id} does not exist")
    return db.session.scalars(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    ).one()


def line_pairs(order: Order, quantities: dict[int, int] | None = None) -> list[tuple[Variant, int]]:
    """(variant, quantity) for each line; ``quantities`` maps line id to a quantity to use instead."""
    out = []
    for line in order.lines:
        qty = line.quantity if quantities is None else quantities.get(line.id, 0)
        if qty:
            out.append((db.session.get(Variant, line.variant_id), qty))
    return out


def release_reservation(order: Order, *, reason: str, actor_id: int | None = None) -> None:
    """Give back everything the order still holds (lines not refunded yet); mark it released."""
    if order.reservation_state != "held":
        return
    still_held = {line.id: line.quantity - line.refunded_quantity for line in order.lines}
    reservations.release_lines(
        order.location, line_pairs(order, still_held), reference=order.reference_key, reason=reason
    )
    order.reservation_state = "released"
    db.session.flush()


def re_reserve(order: Order, *, on) -> bool:
    """Try to reserve a released order's lines again at its location; return whether it worked."""
    from shop.inventory.errors import InsufficientStock

    try:
        reservations.reserve_at(order.location, line_pairs(order), reference=order.reference_key, on=on)
    except InsufficientStock:
        return False
    order.reservation_state = "held"
    db.session.flush()
    return True


# What the buyer is told, in Chinese and English (mails carry both; pages show the page's language).
NOTICES = {
    "paid": ("订单已付款，谢谢！", "Your order is paid. Thank you!"),
    "expired": (
        "订单未按时付款，已失效，商品已重新上架。",
        "Your order was not paid in time and has expired.",
    ),
    "cancelled": ("订单已取消。", "Your order was cancelled."),
    "refunded": ("订单已办理退款。", "A refund was issued for your order."),
    "auto_refunded": (
        "您的付款无法用于此订单，已自动退回。",
        "Your payment could not be used for this order and was refunded automatically.",
    ),
    "payment_failed": ("付款未成功，您可以重新付款。", "Your payment did not go through; you can try again."),
}


def notify(order: Order, kind: str, *, ref: object = "") -> None:
    """Tell the buyer about their order: a notification queued in this unit of work, sent by a task.

    ``ref`` tells apart repeated events of one kind (each refund); the same event is told once.
    """
    from shop.accounts.models import User
    from shop.notifications.services import notify as queue_notification

    zh, en = NOTICES[kind]
    settings = current_app.extensions["settings"]
    link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/orders/{order.id}"
    queue_notification(
        dedupe_key=f"order:{order.id}:{kind}:{ref}",
        kind=f"order_{kind}",
        subject=f"{zh} {en} · {order.number}"[:200],
        body=f"{zh}\n{en}\n\n订单号 Order {order.number}\n{link}",
        user=db.session.get(User, order.user_id),
    )


def flag(order: Order, note: str) -> None:
    """Mark the order for staff attention with a note (kept, newest last)."""
    from shop.notifications.services import notify as queue_notification

    order.needs_attention = True
    order.attention_note = ((order.attention_note + "\n") if order.attention_note else "") + note[:500]
    db.session.flush()
    # Staff of the order's location see it in their notifications, and in /staff/orders?attention=1.
    queue_notification(
        dedupe_key=f"order:{order.id}:attention:{order.attention_note.count(chr(10))}",
        kind="order_attention",
        subject=f"订单需处理 Order needs attention · {order.number}",
        body=note,
        location_id=order.location_id,
    )


def aid_lock_order(line: OrderLine) -> tuple[int, int, int]:
    """Sort key for sale lines sent to the aid ledger: (category, producer, variant).

    The aid rollup rows a payment or refund bumps are keyed by category and producer; taking them in this
    one order in every transaction means two concurrent payments (or refunds) cannot deadlock on them.
    """
    return (db.session.get(Variant, line.variant_id).product.category_id, line.producer_id, line.variant_id)


def mark_paid(order: Order, *, amount_fen: int, paid_at: datetime, actor_id: int | None, reason: str) -> None:
    """Record the order as paid: status, aid ledger, fulfilment message and the buyer's notice.

    The caller holds the order lock and has checked that the reservation is held.
    """
    advance(
        order, "paid", actor_id=actor_id, reason=reason, paid_at=paid_at, paid_fen=Order.paid_fen + amount_fen
    )
    work_unit = order.buyer_kind == "work_unit"
    ordered = sorted(order.lines, key=aid_lock_order)
    record_sale(
        source=order.reference_key,
        occurred_at=paid_at,
        channel="work_unit" if work_unit else "online",
        lines=[SaleLine(ln.variant_id, ln.quantity, ln.line_total_fen, order.location_id) for ln in ordered],
        direct_purchase=work_unit,
        buyer_id=order.user_id,
    )
    order.aid_counted = True
    db.session.flush()
    # Fulfilment (next issue) turns the reservation into a sale movement; the reservation stays until then.
    enqueue("shop.fulfilment.fulfil_order", {"order_id": order.id}, queue="fulfilment")
    notify(order, "paid")


def cancel_order(order_id: int, *, actor: User, reason: str = "cancelled by the buyer") -> Order:
    """Cancel an order before fulfilment starts: release its stock, and refund it in full if paid."""
    from shop.payments import refunds

    order = lock_order(order_id)
    if order.user_id != actor.id and not actor.can_act_at(order.location):
        raise NotYourOrder("only the buyer or staff of the order's location can cancel it")
    if order.status not in ("pending_payment", "paid"):
        raise BadTransition(
            f"order {order.number} is {order.status}; only unfulfilled orders can be cancelled",
            status_now=order.status,
        )
    was = order.status
    if was == "paid":
        # A cancellation after payment is a full refund of what is left to refund.
        refunds.create_refund(order, actor_id=actor.id, reason=reason, full=True, cancelling=True)
    advance(order, "cancelled", actor_id=actor.id, reason=reason, closed_at=utcnow())
    release_reservation(order, reason="order cancelled", actor_id=actor.id)
    if was == "pending_payment":
        from shop.payments.services import cancel_open_payments

        cancel_open_payments(order)
    notify(order, "cancelled")
    if order.user_id != actor.id:
        from shop.audit.services import record

        record(
            actor,
            "order.cancelled",
            target_type="order",
            target_id=order.id,
            number=order.number,
            reason=reason,
        )
    return order


def expire_unpaid_orders(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire every order still unpaid when its reservation ran out; release exactly what it held.

    Each order is expired in its own small transaction, so one failure does not hold back the rest and a
    concurrent payment either wins before us (the order is paid) or finds the order expired.
    """
    from shop.core.db import atomic
    from shop.payments.services import cancel_open_payments

    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(Order.id)
            .where(Order.status == "pending_payment", Order.reserved_until < now)
            .order_by(Order.reserved_until)
            .limit(limit)
        )
    )
    db.session.rollback()
    expired = 0
    for order_id in ids:
        with atomic():
            order = lock_order(order_id)
            if order.status != "pending_payment" or clock.aware(order.reserved_until) >= now:
                continue
            advance(order, "expired", reason="not paid in time", closed_at=now)
            release_reservation(order, reason="order expired")
            cancel_open_payments(order)
            notify(order, "expired")
            expired += 1
    return expired
