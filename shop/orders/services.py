"""Order use cases: place an order (reserving stock), cancel, expire unpaid ones, and the read side (an
order with its payment, refunds and fulfilment, lists, notices).

They sit above payments and fulfilment (cancelling a paid order refunds it; an expired order's open
online payments are cancelled; an order's page shows its payment and parcel). The steps those domains
share with these use cases (lock, release, mark paid, notify, flag) are the order lifecycle,
``lifecycle.py``. Every use case that changes an order first locks its row (``lock_order``), then
decides on fresh state, and changes the status only through ``states.advance``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog.models import Location, Producer, Product, Variant
from shop.core import clock
from shop.core.db import atomic, db, utcnow
from shop.fulfilment.queries import fulfilment_of
from shop.notifications.models import Notification
from shop.orders import reservations
from shop.orders.errors import (
    BadTransition,
    EmptyCart,
    InvalidDelivery,
    InvalidLines,
    NotYourOrder,
    OrderNotFound,
    RefundRequestNeeded,
)
from shop.orders.lifecycle import lock_order, notify, release_reservation
from shop.orders.models import Order, OrderLine, OrderStatusChange
from shop.orders.states import advance
from shop.payments import refunds
from shop.payments.gateways import configured_gateway_name
from shop.payments.models import Refund
from shop.payments.queries import counted_payment, open_intent
from shop.payments.services import cancel_open_payments
from shop.workunits.standing import manages

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
    if loc is not None and loc.pickup and not loc.is_active_on(on):
        raise InvalidDelivery(
            f"{loc.code} takes pickup orders only from {loc.active_from or '…'} to {loc.active_until or '…'}",
            errors=[{"field": "delivery.location", "message": "not open on that day"}],
        )
    if loc is None or not loc.pickup:
        raise InvalidDelivery(
            f"{code!r} is not a pickup point",
            errors=[{"field": "delivery.location", "message": "not a pickup point"}],
        )
    return loc


def _check_address(d: DeliveryRequest) -> None:
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
    db.session.add(
        OrderStatusChange(order_id=order.id, from_status=None, to_status="pending_payment", actor_id=buyer.id)
    )
    location = reservations.reserve_first(plan, resolved, reference=order.reference_key, on=today)
    if location is not order.location:  # the first choice sold out meanwhile (rare)
        order.location = location
        db.session.flush()
    return order


# -- reading ----------------------------------------------------------------------------------------


def order_by_number(number: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.number == number.strip()))
    if order is None:
        raise OrderNotFound(f"order {number} does not exist")
    return order


def can_view(user: User, order: Order) -> bool:
    """The buyer, officers and admins, staff of the order's location, and the manager of the work unit
    the buyer buys for (who sees every order of the unit)."""
    return (
        order.user_id == user.id
        or user.role in ("admin", "aid_officer")
        or user.can_act_at(order.location)
        or (order.buyer_kind == "work_unit" and manages(user.id, order.user_id))
    )


def order_for_viewer(order_id: int, viewer: User) -> Order:
    """Return the order if ``viewer`` is its buyer or staff responsible for it (404 otherwise)."""
    order = db.session.get(Order, order_id)
    if order is None or not can_view(viewer, order):
        # Do not reveal other people's order ids.
        raise OrderNotFound(f"order {order_id} does not exist")
    return order


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
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == order.user_id, Notification.dedupe_key.like(f"order:{order.id}:%"))
            .order_by(Notification.id)
        )
    )


def payment_of(order: Order) -> dict:
    """What the buyer (and the API) see of an order's payment: whether and how it was paid, until when
    it can be paid, and how to pay (at the hall or by transfer, or the online payment to complete).

    Costs one query for a paid order (its counted payment) or an unpaid online one (its open intent).
    """
    counted = counted_payment(order) if order.paid_at is not None else None
    out: dict = {
        "gateway": order.gateway,
        "status": "succeeded" if counted else ("awaiting" if order.status == "pending_payment" else "none"),
        "pay_by": clock.aware(order.reserved_until).isoformat()
        if order.status == "pending_payment"
        else None,
    }
    if counted is not None:
        out["method"] = counted.method
        out["reference"] = counted.provider_ref
    if order.gateway == "manual":
        out["instructions"] = (
            "Pay at the pickup hall, or by bank transfer quoting the order number"
            if order.delivery_type == "pickup"
            else "Pay by bank transfer quoting the order number"
        )
    else:
        settings = current_app.extensions["settings"]
        out["intent_url"] = f"/api/v1/orders/{order.id}/payments/stripe"
        out["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        intent = open_intent(order) if order.status == "pending_payment" else None
        out["intent"] = intent.provider_ref if intent else None
    return out


@dataclass(frozen=True)
class OrderDetails:
    """An order with what its buyer and staff read around it (``schemas.order_dict`` renders it)."""

    order: Order
    payment: dict  # payment_of(order)
    refunds: list[Refund]
    fulfilment: dict | None  # its ticket or parcel (shop.fulfilment.queries.fulfilment_of)


def order_details(order: Order) -> OrderDetails:
    """The order with its payment, refunds and fulfilment, read once for a page or an API answer."""
    # Only a paid order can have refunds: a new order's answer needs no look.
    refund_rows = (
        []
        if order.status == "pending_payment"
        else list(db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)))
    )
    return OrderDetails(order, payment_of(order), refund_rows, fulfilment_of(order))


# -- changing ---------------------------------------------------------------------------------------


def cancel_order(order_id: int, *, actor: User, reason: str = "cancelled by the buyer") -> Order:
    """Cancel an order before fulfilment starts: release its stock, and refund it in full if paid.

    Only staff of the order's location cancel a paid order directly; its buyer's cancellation is a refund
    request (``shop.returns.services.cancel_order``), so nobody is refunded without the hall knowing.
    """
    order = lock_order(order_id)
    if order.user_id != actor.id and not actor.can_act_at(order.location):
        raise NotYourOrder("only the buyer or staff of the order's location can cancel it")
    if order.status not in ("pending_payment", "paid"):
        raise BadTransition(
            f"order {order.number} is {order.status}; only unfulfilled orders can be cancelled",
            status_now=order.status,
        )
    was = order.status
    if was == "paid" and not actor.can_act_at(order.location):
        # Money was taken: its buyer asks, staff of the location decide (shop.returns, docs/orders.md).
        raise RefundRequestNeeded(
            f"order {order.number} is paid: ask for a refund (reason cancel); the hall approves it",
            status_now=order.status,
        )
    if was == "paid":
        # A cancellation after payment is a full refund of what is left to refund.
        refunds.create_refund(order, actor_id=actor.id, reason=reason, full=True, cancelling=True)
    advance(order, "cancelled", actor_id=actor.id, reason=reason, closed_at=utcnow())
    release_reservation(order, reason="order cancelled", actor_id=actor.id)
    if was == "pending_payment":
        cancel_open_payments(order)
    notify(order, "cancelled")
    if order.user_id != actor.id:
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
