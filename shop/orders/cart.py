"""The visitor's cart, kept in the web session (signed cookie) for anonymous and signed-in visitors.

The session holds only SKUs and quantities; prices and availability are read from the catalogue each
time the cart is shown, and again (authoritatively) when the order is placed.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

from sqlalchemy import select

from shop.catalog.models import Variant
from shop.core.db import db
from shop.inventory.queries import availability
from shop.orders.errors import InvalidLines
from shop.orders.services import MAX_LINES, MAX_QUANTITY, LineRequest

KEY = "cart"


@dataclass(frozen=True)
class CartLine:
    variant: Variant
    quantity: int
    available: int

    @property
    def line_total_fen(self) -> int:
        return self.variant.price_fen * self.quantity


def _items(session: MutableMapping) -> dict[str, int]:
    raw = session.get(KEY)
    return dict(raw) if isinstance(raw, dict) else {}


def _variant(sku: str) -> Variant:
    variant = db.session.scalar(select(Variant).where(Variant.sku == sku))
    if variant is None or not variant.active or not variant.product.active:
        raise InvalidLines(f"unknown SKU {sku}", errors=[{"field": "sku", "message": "unknown"}])
    return variant


def _quantity(value) -> int:
    try:
        qty = int(value)
    except (TypeError, ValueError):
        qty = 0
    if qty < 1 or qty > MAX_QUANTITY:
        raise InvalidLines(
            f"quantity must be 1 to {MAX_QUANTITY}", errors=[{"field": "quantity", "message": "range"}]
        )
    return qty


def add(session: MutableMapping, sku: str, quantity) -> Variant:
    """Add ``quantity`` of ``sku`` (a known, active SKU) to the cart."""
    variant = _variant(sku)
    qty = _quantity(quantity)
    items = _items(session)
    if sku not in items and len(items) >= MAX_LINES:
        raise InvalidLines(f"a cart holds at most {MAX_LINES} products")
    items[sku] = min(items.get(sku, 0) + qty, MAX_QUANTITY)
    session[KEY] = items
    return variant


def set_quantity(session: MutableMapping, sku: str, quantity) -> None:
    """Set a line's quantity; 0 removes it."""
    items = _items(session)
    if sku not in items:
        return
    if str(quantity).strip() in ("0", ""):
        items.pop(sku)
    else:
        items[sku] = _quantity(quantity)
    session[KEY] = items


def remove(session: MutableMapping, sku: str) -> None:
    items = _items(session)
    items.pop(sku, None)
    session[KEY] = items


def clear(session: MutableMapping) -> None:
    session.pop(KEY, None)


def lines(session: MutableMapping) -> list[CartLine]:
    """The cart's lines with current catalogue prices; SKUs no longer sold are dropped."""
    items = _items(session)
    if not items:
        return []
    variants = {v.sku: v for v in db.session.scalars(select(Variant).where(Variant.sku.in_(list(items))))}
    live = {sku: q for sku, q in items.items() if sku in variants and variants[sku].active}
    if live != items:
        session[KEY] = live
    avail = availability(variants[s].id for s in live)
    return [CartLine(variants[s], q, avail.get(variants[s].id, 0)) for s, q in live.items()]


def as_requests(session: MutableMapping) -> list[LineRequest]:
    return [LineRequest(sku=sku, quantity=q) for sku, q in _items(session).items()]


def count(session: MutableMapping) -> int:
    return sum(_items(session).values())
