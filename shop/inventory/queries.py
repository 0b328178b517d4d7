"""The read side of inventory: lookups, stock by lot, low stock, expiring lots, movement history."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, inspect, or_, select

from shop.accounts.auth import ensure_location_access
from shop.accounts.models import User, user_location
from shop.catalog.errors import LocationNotFound
from shop.catalog.models import Location, Variant
from shop.catalog.services import variants_by_sku
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import db
from shop.inventory.errors import SaleNotFound, TransferNotFound, UnknownLocation
from shop.inventory.models import CounterSale, Lot, StockLevel, StockMovement, Transfer

SELLING_KINDS = ("hall", "fair")
T = TypeVar("T")


def availability(variant_ids: Iterable[int]) -> dict[int, int]:
    """Return units available to sell (on hand - reserved) per variant, over all locations."""
    ids = list(variant_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(StockLevel.variant_id, func.sum(StockLevel.on_hand - StockLevel.reserved))
        .where(StockLevel.variant_id.in_(ids))
        .group_by(StockLevel.variant_id)
    )
    found = {vid: int(avail or 0) for vid, avail in rows}
    return {vid: found.get(vid, 0) for vid in ids}


def location_by_code(code: str, *, field_name: str | None = None) -> Location:
    """Return the location with ``code``: 404 when it is the path's, 422 naming ``field_name`` in a body."""
    loc = db.session.scalar(select(Location).where(Location.code == code))
    if loc is None or loc.kind == "transit":
        if field_name:
            raise UnknownLocation(
                f"unknown location {code!r}", errors=[{"field": field_name, "message": "unknown location"}]
            )
        raise LocationNotFound(f"location {code} does not exist")
    return loc


def location_for(user: User, code: str, *, field_name: str | None = None) -> Location:
    """Return the location ``code`` after checking that ``user`` may act there (403 otherwise); unknown,
    it is a 404, or a 422 naming ``field_name`` when the code came in a body.

    An operator whose granted locations are not loaded yet is checked in the same query as the
    location (one statement instead of two); any refusal is still ``ensure_location_access``'s."""
    if user.role == "operator" and "locations" in inspect(user).unloaded:
        granted = (
            select(user_location.c.location_id)
            .where(user_location.c.user_id == user.id, user_location.c.location_id == Location.id)
            .exists()
        )
        row = db.session.execute(select(Location, granted).where(Location.code == code)).first()
        if row is not None and row[1] and row[0].kind != "transit":
            return row[0]
    loc = location_by_code(code, field_name=field_name)
    ensure_location_access(user, loc)
    return loc


def variant_by_sku(sku: str, *, field_name: str = "sku") -> Variant:
    """The variant of one SKU from a request (unknown: a 422 naming ``field_name``)."""
    return variants_by_sku([sku], [field_name])[0]


def items_for(
    lines: Sequence[Mapping[str, Any]],
    make: Callable[[Variant, Mapping[str, Any]], T],
    *,
    field: str = "lines",
) -> list[T]:
    """Turn request lines (each with a ``sku``) into a use case's items: ``make(variant, line)`` each,
    with one query for all SKUs (``catalog.services.variants_by_sku``: an unknown SKU is a 422 naming
    ``{field}.{i}.sku``). Every inventory handler, API or console, builds its items here."""
    variants = variants_by_sku([ln["sku"] for ln in lines], [f"{field}.{i}.sku" for i in range(len(lines))])
    return [make(variant, ln) for variant, ln in zip(variants, lines, strict=True)]


def user_locations(user: User) -> list[Location]:
    """The locations ``user`` may act at: an admin's are every stock location."""
    if user.role == "admin":
        return list(
            db.session.scalars(select(Location).where(Location.kind != "transit").order_by(Location.id))
        )
    if user.role != "operator":
        return []
    return sorted(user.locations, key=lambda loc: loc.id)


@dataclass
class StockRow:
    level: StockLevel
    lots: list[Lot] = field(default_factory=list)
    today: date = field(default_factory=date.today)

    @property
    def variant(self) -> Variant:
        return self.level.variant

    @property
    def threshold(self) -> int:
        return effective_threshold(self.level)

    @property
    def low(self) -> bool:
        return self.level.available <= self.threshold

    @property
    def expired(self) -> int:
        return sum(lot.quantity for lot in self.lots if is_expired(lot, self.today))


def effective_threshold(level: StockLevel) -> int:
    """The level's own low-stock threshold, else the variant's default."""
    if level.low_stock_threshold is not None:
        return level.low_stock_threshold
    return level.variant.low_stock_threshold


def is_expired(lot: Lot, on: date) -> bool:
    return lot.best_before is not None and lot.best_before < on


def location_stock(
    location: Location, *, sku: str | None = None, page: int = 1, per_page: int = 100
) -> tuple[list[StockRow], int]:
    """Return the stock levels at ``location`` with their non-empty lots (first-expiry-first)."""
    stmt = (
        select(StockLevel)
        .join(Variant, StockLevel.variant_id == Variant.id)
        .where(StockLevel.location_id == location.id)
        .order_by(Variant.sku)
    )
    if sku:
        stmt = stmt.where(Variant.sku == sku)
    levels, total = page_of(stmt, page=page, per_page=per_page)
    lots_by_variant: dict[int, list[Lot]] = {}
    if levels:
        for lot in db.session.scalars(
            select(Lot)
            .where(
                Lot.location_id == location.id,
                Lot.variant_id.in_([lvl.variant_id for lvl in levels]),
                Lot.quantity > 0,
            )
            .order_by(Lot.best_before.is_(None), Lot.best_before, Lot.id)
        ):
            lots_by_variant.setdefault(lot.variant_id, []).append(lot)
    today = clock.today()
    return [StockRow(lvl, lots_by_variant.get(lvl.variant_id, []), today) for lvl in levels], total


def low_stock(location: Location) -> list[StockRow]:
    """Levels whose available units are at or below their threshold (the level's, else the SKU's)."""
    threshold = func.coalesce(StockLevel.low_stock_threshold, Variant.low_stock_threshold)
    levels = db.session.scalars(
        select(StockLevel)
        .join(Variant, StockLevel.variant_id == Variant.id)
        .where(
            StockLevel.location_id == location.id,
            Variant.active.is_(True),
            StockLevel.on_hand - StockLevel.reserved <= threshold,
        )
        .order_by(StockLevel.on_hand - StockLevel.reserved, Variant.sku)
        .limit(500)
    )
    return [StockRow(lvl) for lvl in levels]


def expiring_lots(location: Location, *, within_days: int, on: date | None = None) -> list[Lot]:
    """Lots with units left whose best-before is within ``within_days`` (already expired ones first)."""
    day = on or clock.today()
    return list(
        db.session.scalars(
            select(Lot)
            .where(
                Lot.location_id == location.id,
                Lot.quantity > 0,
                Lot.best_before.is_not(None),
                Lot.best_before <= day + timedelta(days=within_days),
            )
            .order_by(Lot.best_before, Lot.id)
            .limit(500)
        )
    )


def movement_query(
    location: Location,
    *,
    kind: str | None = None,
    sku: str | None = None,
    lot: str | None = None,
    reference: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select:
    """The movements at ``location`` matching the filters, newest first."""
    stmt = select(StockMovement).where(StockMovement.location_id == location.id)
    if kind:
        stmt = stmt.where(StockMovement.kind == kind)
    if sku:
        stmt = stmt.where(StockMovement.variant_id == variant_by_sku(sku).id)
    if lot:
        stmt = stmt.join(Lot, StockMovement.lot_id == Lot.id).where(Lot.code == lot)
    if reference:
        stmt = stmt.where(StockMovement.reference == reference)
    if actor:
        stmt = stmt.join(User, StockMovement.actor_id == User.id).where(
            func.lower(User.email) == actor.strip().lower()
        )
    if since:
        stmt = stmt.where(StockMovement.created_at >= since)
    if until:
        stmt = stmt.where(StockMovement.created_at < until)
    return stmt.order_by(StockMovement.created_at.desc(), StockMovement.id.desc())


def actor_emails(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.email).where(User.id.in_(wanted))).all())


def get_transfer(transfer_id: int) -> Transfer:
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None:
        raise TransferNotFound(f"transfer {transfer_id} does not exist")
    return transfer


def consignment_for(location: Location, ref: str) -> Transfer:
    """The transfer ``ref`` (an id, "12", or a number, "C000012" / "T000012") addressed to ``location``;
    one addressed elsewhere is not found here."""
    digits = ref[1:] if ref[:1] in ("C", "T", "c", "t") else ref
    if not digits.isdigit():
        raise TransferNotFound(f"no transfer {ref}")
    transfer = get_transfer(int(digits))
    if transfer.to_location_id != location.id:
        raise TransferNotFound(f"consignment {transfer.number} is not addressed to {location.code}")
    return transfer


def ensure_transfer_access(user: User, transfer: Transfer) -> None:
    """Either end's operators (and admins) may see a transfer."""
    if user.can_act_at(transfer.from_location) or user.can_act_at(transfer.to_location):
        return
    ensure_location_access(user, transfer.to_location)


def transfer_query(location: Location, *, direction: str = "any", status: str | None = None) -> Select:
    """Transfers into (``in``), out of (``out``) or either way at ``location``, newest first."""
    ends = {
        "in": Transfer.to_location_id == location.id,
        "out": Transfer.from_location_id == location.id,
        "any": or_(Transfer.to_location_id == location.id, Transfer.from_location_id == location.id),
    }[direction]
    stmt = select(Transfer).where(ends)
    if status == "open":
        stmt = stmt.where(Transfer.status.in_(("in_transit", "partially_received")))
    elif status:
        stmt = stmt.where(Transfer.status == status)
    return stmt.order_by(Transfer.id.desc())


def sale_query(location: Location, *, on: date | None = None) -> Select:
    stmt = select(CounterSale).where(CounterSale.location_id == location.id)
    if on is not None:
        start, end = clock.day_range(on)
        stmt = stmt.where(CounterSale.made_at >= start, CounterSale.made_at < end)
    return stmt.order_by(CounterSale.made_at.desc(), CounterSale.id.desc())


def get_sale(location: Location, sale_id: int) -> CounterSale:
    sale = db.session.get(CounterSale, sale_id)
    if sale is None or sale.location_id != location.id:
        raise SaleNotFound(f"sale {sale_id} does not exist at {location.code}")
    return sale


def sale_lots(sale: CounterSale) -> dict[int, list[tuple[str, int, date | None]]]:
    """For each variant of a sale: the lots its units came from, ``(lot code, units, best-before)``."""
    return sales_lots([sale]).get(sale.id, {})


def sales_lots(sales: list[CounterSale]) -> dict[int, dict[int, list[tuple[str, int, date | None]]]]:
    """``sale_lots`` for several sales in one query: ``{sale id: {variant id: [(lot, units, bb)]}}``."""
    by_ref = {sale.reference_key: sale.id for sale in sales}
    out: dict[int, dict[int, list[tuple[str, int, date | None]]]] = {}
    if not by_ref:
        return out
    rows = db.session.execute(
        select(
            StockMovement.reference,
            StockMovement.variant_id,
            Lot.code,
            StockMovement.quantity,
            Lot.best_before,
        )
        .join(Lot, StockMovement.lot_id == Lot.id)
        .where(StockMovement.reference.in_(list(by_ref)), StockMovement.kind == "counter_sale")
        .order_by(StockMovement.id)
    )
    for reference, variant_id, code, quantity, best_before in rows:
        out.setdefault(by_ref[reference], {}).setdefault(variant_id, []).append(
            (code, -quantity, best_before)
        )
    return out


def user_locations_all() -> list[Location]:
    """Every stock location (a transfer may go anywhere), warehouse first."""
    return list(db.session.scalars(select(Location).where(Location.kind != "transit").order_by(Location.id)))
