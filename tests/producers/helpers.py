"""Sales, refunds and counter sales at chosen moments, for settlement tests (through the real use cases)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy import select, update

from shop.accounts.models import User
from shop.catalog.models import Producer, Product, Variant
from shop.catalog.services import get_location, variant_by_sku
from shop.core import clock
from shop.core.db import atomic, db
from shop.inventory.models import CounterSale
from shop.inventory.sales import record_counter_sale
from shop.inventory.services import add_stock
from shop.orders.services import DeliveryRequest, LineRequest, place_order
from shop.payments.models import Refund
from shop.payments.services import confirm_manual_payment
from shop.returns.services import refund_order

HALL = "DL-HM"
SKUS = ("CHL-LINE-500G", "SHOE-HEMP-40", "APL-HN-5KG", "PEP-DHP-250G")
_seq = itertools.count(1)


def stock_everything(quantity: int = 100_000) -> None:
    with atomic():
        for sku in SKUS:
            add_stock(variant_by_sku(sku), get_location(HALL), quantity, kind="receipt", lot_code="SETTLE")


def staff_user(email: str = "settle-admin@example.cn") -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user
    with atomic():
        user = User(email=email, name="admin", password_hash="!", role="admin")
        db.session.add(user)
    return user


def shopper(email: str = "settle-buyer@example.cn") -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user
    with atomic():
        user = User(email=email, name="buyer", password_hash="!", role="customer")
        db.session.add(user)
    return user


def producer_of(sku: str) -> Producer:
    return db.session.scalar(
        select(Producer)
        .join(Product, Product.producer_id == Producer.id)
        .join(Variant)
        .where(Variant.sku == sku)
    )


def month_moment(months_back: int, day: int = 10) -> datetime:
    """Noon (Beijing) on ``day`` of the month ``months_back`` before this one."""
    first = clock.month_start(clock.today())
    for _ in range(months_back):
        first = clock.month_start(first - timedelta(days=1))
    return clock.at_local(first.replace(day=day))


def period(months_back: int) -> str:
    return month_moment(months_back).astimezone(clock.zone()).strftime("%Y-%m")


def paid_order(items: list[tuple[str, int]], *, at: datetime) -> int:
    """A pickup order paid in cash at ``at``; returns its id."""
    buyer, admin = shopper(), staff_user()
    with atomic():
        order = place_order(
            buyer, [LineRequest(sku, qty) for sku, qty in items], DeliveryRequest("pickup", HALL), now=at
        )
        order_id = order.id
    with atomic():
        confirm_manual_payment(order_id, staff=admin, method="cash", now=at)
    return order_id


def refund(
    order_id: int, *, at: datetime, lines: list[dict] | None = None, amount_fen: int | None = None
) -> int:
    """Refund (part of) an order, dated ``at``; returns the refund id."""
    with atomic():
        r = refund_order(order_id, staff=staff_user(), reason="test", lines=lines, amount_fen=amount_fen)
        refund_id = r.id
    with atomic():
        db.session.execute(update(Refund).where(Refund.id == refund_id).values(created_at=at))
    return refund_id


def counter_sale(items: list[tuple[str, int]], *, at: datetime) -> int:
    with atomic():
        result = record_counter_sale(
            get_location(HALL),
            client_sale_id=f"settle-{next(_seq)}",
            lines=[(variant_by_sku(sku), qty) for sku, qty in items],
            paid_with="cash",
            actor=staff_user(),
        )
        sale_id = result.sale.id
    with atomic():
        db.session.execute(update(CounterSale).where(CounterSale.id == sale_id).values(made_at=at))
    return sale_id
