"""Order use cases: place an order (reserving stock), cancel, expire unpaid ones, and the read side (an
order with its payment, refunds and fulfilment, lists, notices).

They sit above payments and fulfilment (cancelling a paid order refunds it; an expired order's open
online payments are cancelled; an order's page shows its payment and parcel). The steps those domains
share with these use cases (lock, release, mark paid, notify, flag) are the order lifecycle,
``lifecycle.py``. Every use case that changes an order first locks its row (``lock_order``), then
decides on fresh state, and changes the status only through ``states.advance``.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import Date, Integer, ScalarSelect, Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog import cache as catalog_cache
from shop.catalog.models import AidCertificate, Location, Producer, Product, Variant
from shop.core import clock
from shop.core.db import atomic, db, utcnow
from shop.fulfilment.queries import fulfilment_of
from shop.notifications.models import Notification
from shop.orders import reservations
from shop.orders.errors import (
    BadTransition,
    CatalogueChanged,
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


@dataclass(frozen=True)
class Item:
    """A variant as an order line is made of it: with its product, producer and the aid certificate valid
    on the day of the order, read in one statement (``_read_items``) and kept per process a few seconds."""

    id: int
    sku: str
    perishable: bool
    on_sale: bool  # the variant and its product are active
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    price_fen: int
    producer_id: int
    producer_name_zh: str
    producer_name_en: str
    certificate_id: int | None
    certificate_number: str | None


def _certificate_on(producer_id, day) -> ScalarSelect:
    """The id of ``producer_id``'s certificate valid on ``day`` (what ``Producer.certificate_on`` picks)."""
    cert = aliased(AidCertificate)
    return (
        select(cert.id)
        .where(
            cert.producer_id == producer_id,
            cert.valid_from <= day,
            cert.valid_until >= day,
            cert.revoked.is_(False),
        )
        .order_by(cert.valid_from, cert.id)
        .limit(1)
        .correlate_except(cert)
        .scalar_subquery()
    )


@functools.cache
def _items_query() -> Select:
    day = bindparam("day", type_=Date)
    return (
        select(
            Variant.id,
            Variant.sku,
            Variant.perishable,
            (Variant.active & Product.active).label("on_sale"),
            Product.name_zh.label("product_zh"),
            Product.name_en.label("product_en"),
            Variant.name_zh,
            Variant.name_en,
            Variant.unit_zh,
            Variant.unit_en,
            Variant.price_fen,
            Product.producer_id,
            Producer.name_zh.label("producer_zh"),
            Producer.name_en.label("producer_en"),
            AidCertificate.id.label("cert_id"),
            AidCertificate.number.label("cert_number"),
        )
        .join(Product, Product.id == Variant.product_id)
        .join(Producer, Producer.id == Product.producer_id)
        .outerjoin(AidCertificate, AidCertificate.id == _certificate_on(Product.producer_id, day))
        .where(Variant.sku.in_(bindparam("skus", expanding=True)))
    )


def _read_items(skus: list[str], day: date) -> dict[str, Item]:
    """The variants of ``skus`` with product, producer and certificate: one statement, no ORM objects."""
    rows = db.session.execute(_items_query(), {"skus": skus, "day": day}).all()
    return {
        r.sku: Item(
            id=r.id,
            sku=r.sku,
            perishable=bool(r.perishable),
            on_sale=bool(r.on_sale),
            name_zh=f"{r.product_zh} · {r.name_zh}",
            name_en=f"{r.product_en} · {r.name_en}",
            unit_zh=r.unit_zh,
            unit_en=r.unit_en,
            price_fen=r.price_fen,
            producer_id=r.producer_id,
            producer_name_zh=r.producer_zh,
            producer_name_en=r.producer_en,
            certificate_id=r.cert_id,
            certificate_number=r.cert_number,
        )
        for r in rows
    }


class _ProcessCache:
    """What order placement reads of the catalogue (items by SKU and day, pickup halls by code), kept per
    process ``ORDER_CATALOGUE_CACHE_SECONDS``. Never trusted at commit: the order's INSERT re-checks."""

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self.items: dict[tuple[str, date], tuple[float, Item]] = {}
        self.halls: dict[str, tuple[float, Location]] = {}

    def ttl(self) -> float:
        return current_app.extensions["settings"].ORDER_CATALOGUE_CACHE_SECONDS

    def get_items(self, skus: list[str], day: date, *, fresh: bool) -> dict[str, Item]:
        ttl, now = self.ttl(), time.monotonic()
        found: dict[str, Item] = {}
        if ttl and not fresh:
            for sku in skus:
                hit = self.items.get((sku, day))
                if hit is not None and hit[0] > now:
                    found[sku] = hit[1]
        missing = [sku for sku in skus if sku not in found]
        if missing:
            read = _read_items(missing, day)
            found.update(read)
            if ttl:
                if len(self.items) > self.MAX_ENTRIES:
                    self.items.clear()
                for sku, item in read.items():
                    self.items[(sku, day)] = (now + ttl, item)
        return found

    def get_hall(self, code: str, *, fresh: bool) -> Location | None:
        ttl, now = self.ttl(), time.monotonic()
        hit = None if fresh or not ttl else self.halls.get(code)
        if hit is not None and hit[0] > now:
            # A detached copy, merged into this request's session without a query.
            return db.session.merge(hit[1], load=False)
        # populate_existing: a copy merged earlier in this session must not stand in for the row.
        loc = db.session.scalar(
            select(Location).where(Location.code == code).execution_options(populate_existing=True)
        )
        if loc is not None and ttl:
            if len(self.halls) > self.MAX_ENTRIES:
                self.halls.clear()
            copy = Location(**{a.key: getattr(loc, a.key) for a in Location.__mapper__.column_attrs})
            make_transient_to_detached(copy)
            self.halls[code] = (now + ttl, copy)
        return loc

    def forget(self, skus: list[str], hall: str | None) -> None:
        for key in [k for k in self.items if k[0] in skus]:
            self.items.pop(key, None)
        if hall is not None:
            self.halls.pop(hall, None)


def _forget_catalogue() -> None:
    if has_app_context():
        current_app.extensions.pop("order_catalogue", None)


# A catalogue change made through the back office drops this process's copy at once (others within
# ORDER_CATALOGUE_CACHE_SECONDS; the order's INSERT re-checks what matters either way).
catalog_cache.also_clear(_forget_catalogue)


def catalogue_cache() -> _ProcessCache:
    """This app's cache (one per app in the process, so two apps never share rows of different databases)."""
    extensions = current_app.extensions
    cache = extensions.get("order_catalogue")
    if cache is None:
        cache = extensions["order_catalogue"] = _ProcessCache()
    return cache


def _resolve_lines(lines: list[LineRequest], day: date, *, fresh: bool = False) -> list[tuple[Item, int]]:
    if not lines:
        raise EmptyCart("an order needs at least one line", errors=[{"field": "lines", "message": "empty"}])
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    if len(merged) > MAX_LINES:
        raise InvalidLines(f"at most {MAX_LINES} different SKUs per order")
    errors = []
    resolved = []
    found = catalogue_cache().get_items(list(merged), day, fresh=fresh)
    for i, (sku, qty) in enumerate(merged.items()):
        item = found.get(sku)
        if item is None or not item.on_sale:
            errors.append({"field": f"lines.{i}.sku", "message": f"unknown SKU {sku}"})
        elif not isinstance(qty, int) or qty < 1 or qty > MAX_QUANTITY:
            errors.append({"field": f"lines.{i}.quantity", "message": f"must be 1 to {MAX_QUANTITY}"})
        else:
            resolved.append((item, qty))
    if errors:
        raise InvalidLines("; ".join(e["message"] for e in errors), errors=errors)
    return resolved


def _pickup_hall(code: str | None, on, *, fresh: bool = False) -> Location:
    loc = catalogue_cache().get_hall(code or "", fresh=fresh)
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

    The catalogue (items, pickup hall) may come from this process's short-lived copy; the order's INSERT
    goes in only if every line's price, active flags and certificate and the hall are still what the
    order says (``_still_current``). When they are not (the copy was stale), nothing was written: the
    catalogue is read again and the order built anew at the current prices.
    """
    now = now or utcnow()
    today = clock.local_day(now)
    if delivery.type not in ("pickup", "ship"):
        raise InvalidDelivery("delivery type must be ship or pickup")
    for attempt in range(_ATTEMPTS):
        fresh = attempt > 0
        resolved = _resolve_lines(lines, today, fresh=fresh)
        hall = None
        if delivery.type == "pickup":
            hall = _pickup_hall(delivery.location, today, fresh=fresh)
            plan = [hall]
        else:
            _check_address(delivery)
            plan = reservations.delivery_plan(resolved, on=today)
        order = _insert_order(buyer, resolved, delivery, hall, plan[0], now=now, today=today)
        if order is not None:
            break
        catalogue_cache().forget([item.sku for item, _q in resolved], delivery.location)
    else:
        raise CatalogueChanged("the catalogue changed while the order was placed; please try again")
    # The order's rows went in first and the stock goes last: a reservation locks the SKU's level row
    # until commit, so every statement after it would keep other buyers of that SKU waiting.
    location = reservations.reserve_first(plan, resolved, reference=order.reference_key, on=today)
    if location is not order.location:  # the first choice sold out meanwhile (rare)
        db.session.execute(update(Order).where(Order.id == order.id).values(location_id=location.id))
        set_committed_value(order, "location_id", location.id)
        set_committed_value(order, "location", location)
    return order


# A stale process copy costs one more try with a fresh read; a change between that read and the INSERT
# (or a clash of random order numbers) one more.
_ATTEMPTS = 3


def _still_current(lines: int, pickup: bool):
    """The condition of the order's INSERT: every line's variant (``v<i>``) still on sale at the order's
    price (``p<i>``) from the same producer (``pr<i>``) with the same certificate valid on ``day``
    (``c<i>``, 0 for none), and the pickup hall (``hall``) still open for pickup on ``day``."""
    day = bindparam("day", type_=Date)
    checks = []
    for i in range(lines):
        certificate = func.coalesce(_certificate_on(Product.producer_id, day), 0)
        checks.append(
            select(Variant.id)
            .join(Product, Product.id == Variant.product_id)
            .where(
                Variant.id == bindparam(f"v{i}", type_=Integer),
                Variant.price_fen == bindparam(f"p{i}", type_=Integer),
                Variant.active.is_(True),
                Product.active.is_(True),
                Product.producer_id == bindparam(f"pr{i}", type_=Integer),
                certificate == bindparam(f"c{i}", type_=Integer),
            )
            .exists()
        )
    if pickup:
        checks.append(
            select(Location.id)
            .where(
                Location.id == bindparam("hall", type_=Integer),
                Location.pickup.is_(True),
                or_(Location.active_from.is_(None), Location.active_from <= day),
                or_(Location.active_until.is_(None), Location.active_until >= day),
            )
            .exists()
        )
    return and_(*checks)


@functools.cache
def _order_insert(dialect: str, names: tuple[str, ...], lines: int, pickup: bool):
    """INSERT INTO shop_order (names) SELECT :o_<name>... WHERE <still current> ON CONFLICT (number) DO
    NOTHING RETURNING id, built once per shape (building it is most of its Python cost)."""
    table = Order.__table__
    chosen = select(*[bindparam(f"o_{name}", type_=table.c[name].type) for name in names]).where(
        _still_current(lines, pickup)
    )
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert_(table)
        .from_select(list(names), chosen)
        .on_conflict_do_nothing(index_elements=["number"])
        .returning(table.c.id)
    )


_LINE_INSERT = insert(OrderLine.__table__).returning(OrderLine.__table__.c.id, sort_by_parameter_order=True)
_FIRST_STATUS = insert(OrderStatusChange.__table__)


def _insert_order(
    buyer: User,
    resolved: list[tuple[Item, int]],
    delivery: DeliveryRequest,
    hall: Location | None,
    location: Location,
    *,
    now: datetime,
    today: date,
) -> Order | None:
    """Write the order, its lines and its first status row with SQLAlchemy Core (INSERT ... RETURNING),
    and return it as a persistent ``Order`` built from what was written (no read back). None, writing
    nothing, when the catalogue it was built from is no longer current (or the random number clashed)."""
    gateway = configured_gateway_name()
    subtotal = sum(item.price_fen * qty for item, qty in resolved)
    shipping = SHIPPING_FEE_FEN if delivery.type == "ship" and subtotal < FREE_SHIPPING_FROM_FEN else 0
    work_unit = buyer.buyer_kind == "work_unit"
    ship = delivery.type == "ship"
    values = {
        "number": _order_number(now),
        "user_id": buyer.id,
        "status": "pending_payment",
        "kind": "order",
        "gateway": gateway,
        "buyer_kind": buyer.buyer_kind,
        "invoice_title": buyer.invoice_title if work_unit else "",
        "tax_id": buyer.tax_id if work_unit else "",
        "delivery_type": delivery.type,
        "pickup_location_id": hall.id if hall is not None else None,
        "recipient": delivery.recipient.strip() if ship else "",
        "phone": delivery.phone.strip() if ship else "",
        "city": "天津市" if ship else "",
        "district": delivery.district if ship else "",
        "street_address": delivery.street_address.strip() if ship else "",
        "delivery_note": delivery.note.strip()[:200],
        "location_id": location.id,
        "reservation_state": "held",
        "reserved_until": now + timedelta(minutes=reservation_minutes(gateway)),
        "subtotal_fen": subtotal,
        "shipping_fen": shipping,
        "total_fen": subtotal + shipping,
        "currency": "CNY",
        "paid_fen": 0,
        "refunded_fen": 0,
        "aid_counted": False,
        "needs_attention": False,
        "attention_note": "",
        "created_at": now,
        "paid_at": None,
        "closed_at": None,
    }
    # NULL columns are left out (they default to NULL), so the Order built below is exactly the row.
    names = tuple(name for name in values if values[name] is not None)
    params = {f"o_{name}": values[name] for name in names}
    params["day"] = today
    for i, (item, _qty) in enumerate(resolved):
        params[f"v{i}"] = item.id
        params[f"p{i}"] = item.price_fen
        params[f"pr{i}"] = item.producer_id
        params[f"c{i}"] = item.certificate_id or 0
    if hall is not None:
        params["hall"] = hall.id
    statement = _order_insert(db.engine.dialect.name, names, len(resolved), hall is not None)
    order_id = db.session.execute(statement, params).scalar()
    if order_id is None:
        return None
    line_values = [
        {
            "order_id": order_id,
            "variant_id": item.id,
            "sku": item.sku,
            "name_zh": item.name_zh,
            "name_en": item.name_en,
            "unit_zh": item.unit_zh,
            "unit_en": item.unit_en,
            "producer_id": item.producer_id,
            "producer_name_zh": item.producer_name_zh,
            "producer_name_en": item.producer_name_en,
            "certificate_number": item.certificate_number,
            "unit_price_fen": item.price_fen,
            "quantity": qty,
            "line_total_fen": item.price_fen * qty,
            "refunded_quantity": 0,
            "refunded_fen": 0,
        }
        for item, qty in resolved
    ]
    line_ids = db.session.execute(_LINE_INSERT, line_values).scalars().all()
    first_status = {"order_id": order_id, "from_status": None, "to_status": "pending_payment"}
    db.session.execute(_FIRST_STATUS, {**first_status, "actor_id": buyer.id, "reason": "", "at": now})
    # The ORM objects of what was just written, persistent in the session as if loaded from it.
    order_lines = []
    for line_id, lv in zip(line_ids, line_values, strict=True):
        line = OrderLine(id=line_id, **lv)
        make_transient_to_detached(line)
        order_lines.append(line)
    order = Order(id=order_id, **values)
    order.lines = order_lines
    order.location = location
    order.pickup_location = hall
    make_transient_to_detached(order)
    db.session.add(order)
    return order


def _order_number(now: datetime) -> str:
    """A random order number (``new_order_number`` without its look: the INSERT skips a taken one)."""
    day = clock.to_local(now).strftime("%y%m%d")
    body = day + "".join(secrets.choice("0123456789") for _ in range(7))
    digits = body + _luhn_digit(body)
    return f"{digits[:6]}-{digits[6:10]}-{digits[10:]}"


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
