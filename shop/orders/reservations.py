"""Where an order's stock is reserved: one location for the whole order, chosen by a fixed strategy.

1. Pickup orders reserve at the pickup hall: that is where the buyer will stand.
2. Delivery orders reserve at a shipping location that can serve every line, preferring the one whose
   perishable stock expires first (first-expiry-first across locations, so older lots leave first).
3. Only sellable stock counts: units in lots past their best-before date cannot be reserved.

The reservation itself is ``shop.inventory.services.reserve`` (conditional UPDATEs, levels locked in id
order). Each attempt runs in a savepoint so a location that turns out short (another buyer was faster)
leaves nothing behind before the next location is tried.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, Integer, bindparam, func, or_, select

from shop.catalog.models import Location, Variant
from shop.core.db import db
from shop.inventory import services as stock
from shop.inventory.errors import InsufficientStock
from shop.inventory.models import Lot, StockLevel

# (variant, quantity): an ORM Variant or anything with its id, sku and perishable (an order's ``Item``).
Lines = list[tuple[Variant, int]]


@dataclass(frozen=True)
class Candidate:
    location: Location
    short_sku: str | None  # first SKU it cannot serve (None: it can serve the whole order)
    earliest_best_before: date | None


@functools.cache
def _stock_query():
    on = bindparam("on", type_=Date)
    mine = (
        Lot.variant_id == StockLevel.variant_id,
        Lot.location_id == StockLevel.location_id,
        or_(Lot.best_before.is_(None), Lot.best_before >= on),
    )
    good = select(func.coalesce(func.sum(Lot.quantity), 0)).where(*mine).correlate(StockLevel)
    earliest = select(func.min(Lot.best_before)).where(*mine, Lot.quantity > 0).correlate(StockLevel)
    return select(
        StockLevel.variant_id,
        StockLevel.reserved,
        good.scalar_subquery().label("sellable"),
        earliest.scalar_subquery().label("earliest"),
    ).where(
        StockLevel.location_id == bindparam("location_id", type_=Integer),
        StockLevel.variant_id.in_(bindparam("variant_ids", expanding=True)),
    )


def _stock_at(location_id: int, variant_ids: list[int], on: date) -> dict[int, tuple[int, int, date | None]]:
    """variant id -> (reserved, sellable units, earliest unexpired best-before) at one location, in one
    statement (a new statement, so under READ COMMITTED it sees every commit up to now). Built once
    (``_stock_query``): building it per call cost more Python than running it."""
    rows = db.session.execute(
        _stock_query(), {"location_id": location_id, "variant_ids": variant_ids, "on": on}
    ).all()
    return {r.variant_id: (r.reserved, int(r.sellable or 0), r.earliest) for r in rows}


def _assess(location: Location, lines: Lines, on: date) -> Candidate:
    stock_here = _stock_at(location.id, [v.id for v, _q in lines], on)
    short = None
    earliest = None
    for variant, qty in lines:
        reserved, good, bb = stock_here.get(variant.id, (0, 0, None))
        if short is None and good - reserved < qty:
            short = variant.sku
        if variant.perishable and bb is not None and (earliest is None or bb < earliest):
            earliest = bb
    return Candidate(location, short, earliest)


def reserve_at(location: Location, lines: Lines, *, reference: str, on: date, savepoint: bool = True) -> None:
    """Reserve every line at ``location`` or nothing; raise InsufficientStock naming the short SKU.

    Without ``savepoint`` a failure leaves the caller's transaction to roll back (it must not go on).
    """
    with db.session.begin_nested() if savepoint else contextlib.nullcontext():
        stock.reserve(lines, location, reference=reference)
        # reserve() checked on hand; expired lots are on hand but unsellable. The level rows are locked
        # by our UPDATEs, so this re-check sees every other reservation of these SKUs here.
        stock_here = _stock_at(location.id, [v.id for v, _q in lines], on)
        for variant, _qty in lines:
            reserved, good, _bb = stock_here[variant.id]
            if reserved > good:
                raise InsufficientStock(
                    f"not enough sellable {variant.sku} at {location.code}",
                    sku=variant.sku,
                    location=location.code,
                )


def shipping_locations(on: date) -> list[Location]:
    rows = db.session.scalars(select(Location).where(Location.ships.is_(True)).order_by(Location.id))
    return [loc for loc in rows if loc.is_active_on(on)]


def delivery_plan(lines: Lines, *, on: date) -> list[Location]:
    """The shipping locations that can serve the whole order now, best first (raise if none can)."""
    candidates = [_assess(loc, lines, on) for loc in shipping_locations(on)]
    if not candidates:
        raise InsufficientStock("no location ships orders at the moment", sku=lines[0][0].sku)
    far_future = date.max
    candidates.sort(
        key=lambda c: (c.short_sku is not None, c.earliest_best_before or far_future, c.location.id)
    )
    plan = [c.location for c in candidates if c.short_sku is None]
    if not plan:
        best = candidates[0]
        raise InsufficientStock(
            f"not enough {best.short_sku} to deliver this order", sku=best.short_sku, location=None
        )
    return plan


def reserve_first(plan: list[Location], lines: Lines, *, reference: str, on: date) -> Location:
    """Reserve at the first location of ``plan`` that still can serve the order; return it."""
    if len(plan) == 1:  # nothing to fall back to: no savepoint needed
        reserve_at(plan[0], lines, reference=reference, on=on, savepoint=False)
        return plan[0]
    first_error: InsufficientStock | None = None
    for location in plan:
        try:
            reserve_at(location, lines, reference=reference, on=on)
        except InsufficientStock as err:  # another buyer took it between our look and our update
            first_error = first_error or err
            continue
        return location
    assert first_error is not None
    raise first_error


def release_lines(location: Location, lines: Lines, *, reference: str, reason: str) -> None:
    """Give reserved units back at ``location`` (skipping zero quantities)."""
    todo = [(v, q) for v, q in lines if q > 0]
    if todo:
        stock.release(todo, location, reference=reference, reason=reason)
