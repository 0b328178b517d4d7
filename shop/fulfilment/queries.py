"""The read side of fulfilment: what a hall has to prepare, pick lists by lot, an order's parcel or ticket.

Pick lists are read from the stock ledger (the order's ``online_sale`` movements carry the lot), so
they always match what left the shelves.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, func, select

from shop.catalog.models import Location
from shop.core.api import page_of
from shop.core.db import db
from shop.fulfilment.models import PickupTicket, Shipment
from shop.fulfilment.services import SALE_KIND, courier_label
from shop.inventory.models import Lot, StockMovement
from shop.orders.models import Order

# What each list on the hall's page holds.
SECTIONS = ("to_ship", "awaiting_pickup", "shipped", "waiting", "attention")


@dataclass(frozen=True)
class Pick:
    sku: str
    lot_code: str
    best_before: date | None
    quantity: int


@dataclass
class PickLine:
    sku: str
    name_zh: str
    name_en: str
    quantity: int  # ordered
    refunded: int
    picks: list[Pick] = field(default_factory=list)

    @property
    def to_hand_over(self) -> int:
        return self.quantity - self.refunded


def _picks_by_order(orders: list[Order]) -> dict[int, list[Pick]]:
    by_ref = {o.reference_key: o.id for o in orders}
    out: dict[int, list[Pick]] = defaultdict(list)
    if not by_ref:
        return out
    rows = db.session.execute(
        select(
            StockMovement.reference,
            Lot.code,
            Lot.best_before,
            StockMovement.quantity,
            StockMovement.variant_id,
        )
        .join(Lot, StockMovement.lot_id == Lot.id)
        .where(StockMovement.kind == SALE_KIND, StockMovement.reference.in_(list(by_ref)))
        .order_by(StockMovement.id)
    ).all()
    sku_of = {line.variant_id: line.sku for o in orders for line in o.lines}
    for ref, code, best_before, qty, variant_id in rows:
        out[by_ref[ref]].append(Pick(sku_of.get(variant_id, "?"), code, best_before, -qty))
    return out


def pick_lines(order: Order, picks: list[Pick] | None = None) -> list[PickLine]:
    """Each line of ``order`` with the lots its units were taken from (empty before picking)."""
    if picks is None:
        picks = _picks_by_order([order]).get(order.id, [])
    lines = []
    for line in order.lines:
        lines.append(
            PickLine(
                sku=line.sku,
                name_zh=line.name_zh,
                name_en=line.name_en,
                quantity=line.quantity,
                refunded=line.refunded_quantity,
                picks=[p for p in picks if p.sku == line.sku],
            )
        )
    return lines


@dataclass
class QueueItem:
    order: Order
    lines: list[PickLine]
    shipment: Shipment | None = None
    ticket: PickupTicket | None = None


def section_query(location: Location, section: str) -> Select:
    """Orders of one section of the hall's fulfilment page, oldest first (they waited longest)."""
    stmt = select(Order).where(Order.location_id == location.id)
    if section == "to_ship":
        stmt = stmt.join(Shipment, Shipment.order_id == Order.id).where(
            Shipment.status == "awaiting_dispatch"
        )
    elif section == "awaiting_pickup":
        stmt = stmt.join(PickupTicket, PickupTicket.order_id == Order.id).where(
            PickupTicket.status == "ready"
        )
    elif section == "shipped":
        stmt = stmt.join(Shipment, Shipment.order_id == Order.id).where(Shipment.status == "shipped")
    elif section == "waiting":
        # Paid but not picked yet (the worker has not run, or the order is short of stock).
        stmt = stmt.where(Order.status.in_(("paid", "fulfilling")), Order.needs_attention.is_(False))
        stmt = stmt.where(
            ~select(Shipment.id).where(Shipment.order_id == Order.id).exists(),
            ~select(PickupTicket.id).where(PickupTicket.order_id == Order.id).exists(),
        )
    elif section == "attention":
        stmt = stmt.where(Order.status.in_(("paid", "fulfilling")), Order.needs_attention.is_(True))
    else:
        raise ValueError(section)
    return stmt.order_by(Order.paid_at, Order.id)


def section_page(location: Location, section: str, *, page: int = 1, per_page: int = 50):
    """One page of a section with each order's pick list, parcel and ticket; return (items, total)."""
    rows, total = page_of(section_query(location, section), page=page, per_page=per_page)
    return decorate(rows), total


def decorate(rows: list[Order]) -> list[QueueItem]:
    ids = [o.id for o in rows]
    picks = _picks_by_order(rows)
    shipments = {
        s.order_id: s for s in db.session.scalars(select(Shipment).where(Shipment.order_id.in_(ids)))
    }
    tickets = {
        t.order_id: t for t in db.session.scalars(select(PickupTicket).where(PickupTicket.order_id.in_(ids)))
    }
    return [
        QueueItem(o, pick_lines(o, picks.get(o.id, [])), shipments.get(o.id), tickets.get(o.id)) for o in rows
    ]


def section_counts(location: Location) -> dict[str, int]:
    return {
        s: db.session.scalar(
            select(func.count()).select_from(section_query(location, s).order_by(None).subquery())
        )
        or 0
        for s in SECTIONS
    }


@dataclass(frozen=True)
class TotalPick:
    sku: str
    name_zh: str
    name_en: str
    lot_code: str
    best_before: date | None
    quantity: int
    orders: int


def hall_pick_list(location: Location, *, limit: int = 500) -> list[TotalPick]:
    """Everything still to take off the shelves at ``location``, by SKU and lot, for one walk around the
    store: the parcels not shipped yet and the pickups not handed over."""
    orders = list(db.session.scalars(section_query(location, "to_ship").limit(limit))) + list(
        db.session.scalars(section_query(location, "awaiting_pickup").limit(limit))
    )
    totals: dict[tuple[str, str], list] = {}
    names = {line.sku: (line.name_zh, line.name_en) for o in orders for line in o.lines}
    for order_id, picks in _picks_by_order(orders).items():
        del order_id
        for p in picks:
            entry = totals.setdefault((p.sku, p.lot_code), [p.best_before, 0, 0])
            entry[1] += p.quantity
            entry[2] += 1
    out = [
        TotalPick(sku, *names.get(sku, (sku, sku)), lot, bb, qty, n)
        for (sku, lot), (bb, qty, n) in totals.items()
    ]
    return sorted(out, key=lambda t: (t.sku, t.best_before or date.max, t.lot_code))


def fulfilment_of(order: Order) -> dict | None:
    """What the buyer (and the API) sees of an order's fulfilment: its ticket or parcel.

    Costs no query before the order was picked (the reservation is consumed only then), one after.
    """
    if order.reservation_state != "consumed":
        return None
    if order.delivery_type == "pickup":
        ticket = db.session.scalar(select(PickupTicket).where(PickupTicket.order_id == order.id))
        if ticket is None:
            return None
        return {
            "kind": "pickup",
            "status": ticket.status,
            "code": ticket.code if ticket.status != "cancelled" else None,
            "location": (order.pickup_location or order.location).code,
            "ready_at": ticket.created_at,
            "handed_over_at": ticket.handed_over_at,
        }
    shipment = db.session.scalar(select(Shipment).where(Shipment.order_id == order.id))
    if shipment is None:
        return None
    zh, en = courier_label(shipment)
    return {
        "kind": "shipment",
        "status": shipment.status,
        "courier": shipment.courier or None,
        "courier_name": zh if shipment.courier else None,
        "courier_name_en": en if shipment.courier else None,
        "tracking_number": shipment.tracking_number or None,
        "shipped_at": shipment.shipped_at,
        "delivered_at": shipment.delivered_at,
    }
