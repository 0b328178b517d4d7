"""Stock use cases. The only code that changes stock levels and lots, always writing movements.

Rules kept here:
- Every change of on hand or reserved is one StockMovement row written in the same transaction.
- Quantities change by conditional SQL increments (``UPDATE ... WHERE on_hand - reserved >= :q``);
  never read-then-write, which would oversell under concurrency (and SQLite ignores FOR UPDATE).
- Several levels are always touched in ascending level id order, so two transactions cannot deadlock.
- Stock leaves lots first-expiry-first; a sale never takes units from a lot past its best-before date
  (write-offs of spoiled stock may), nor leaves fewer unexpired units than are reserved for orders.
- Units in transit between two locations sit at the in-transit location (kind ``transit``), on hand and
  reserved at once, so they are counted and explained by the ledger but never available to sell.
- A stock level is locked before its lots are read (the conditional update takes the row lock), so a
  taker or a count sees every earlier writer's committed lots.

The use cases built on these primitives live beside this module: ``sales`` (counter sales),
``transfers`` (consignments, transfers, receipts), ``adjustments`` (adjustments, counts, thresholds)
and ``queries`` (the read side).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, bindparam, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import db
from shop.inventory.errors import (
    BadQuantity,
    InsufficientStock,
    LotDatesDiffer,
    LotExpired,
    UnknownLot,
)
from shop.inventory.models import Lot, StockLevel, StockMovement, Transfer, TransferLine

NO_LOT = "-"
TRANSIT_CODE = "IN-TRANSIT"
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class Take:
    """Units taken from one lot."""

    lot_id: int
    lot_code: str
    quantity: int
    best_before: date | None


def _insert(table):
    return (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(table)


def level_id(variant_id: int, location_id: int) -> int:
    """Return the id of the stock level row, creating an empty one if needed (race-safe upsert)."""
    lid = db.session.scalar(
        select(StockLevel.id).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )
    if lid is not None:
        return lid
    db.session.execute(
        _insert(StockLevel.__table__)
        .values(variant_id=variant_id, location_id=location_id, on_hand=0, reserved=0)
        .on_conflict_do_nothing(index_elements=["variant_id", "location_id"])
    )
    return db.session.scalar(
        select(StockLevel.id).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )


def _lot_id(variant_id: int, location_id: int, code: str, harvested_on, best_before) -> int:
    lid = db.session.scalar(
        select(Lot.id).where(Lot.variant_id == variant_id, Lot.location_id == location_id, Lot.code == code)
    )
    if lid is not None:
        return lid
    db.session.execute(
        _insert(Lot.__table__)
        .values(
            variant_id=variant_id,
            location_id=location_id,
            code=code,
            harvested_on=harvested_on,
            best_before=best_before,
            quantity=0,
            created_at=db.func.now(),
        )
        .on_conflict_do_nothing(index_elements=["variant_id", "location_id", "code"])
    )
    return db.session.scalar(
        select(Lot.id).where(Lot.variant_id == variant_id, Lot.location_id == location_id, Lot.code == code)
    )


def level_ids(variant_ids: list[int], location_id: int) -> dict[int, int]:
    """``level_id`` for several variants at one location: variant id -> stock level id, in one statement
    when every level exists."""
    found = dict(
        db.session.execute(
            select(StockLevel.variant_id, StockLevel.id).where(
                StockLevel.location_id == location_id, StockLevel.variant_id.in_(variant_ids)
            )
        ).all()
    )
    for variant_id in variant_ids:
        if variant_id not in found:
            found[variant_id] = level_id(variant_id, location_id)
    return found


def _record(
    kind: str,
    *,
    variant_id: int,
    location_id: int,
    quantity: int = 0,
    reserved_delta: int = 0,
    lot_id: int | None = None,
    actor_id: int | None = None,
    reason: str = "",
    note: str = "",
    reference: str = "",
) -> StockMovement:
    mv = StockMovement(
        kind=kind,
        variant_id=variant_id,
        location_id=location_id,
        lot_id=lot_id,
        quantity=quantity,
        reserved_delta=reserved_delta,
        actor_id=actor_id,
        reason=reason,
        note=note,
        reference=reference,
    )
    db.session.add(mv)
    return mv


def _positive(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= MAX_QUANTITY:
        raise BadQuantity(
            f"quantity must be a whole number from 1 to {MAX_QUANTITY}",
            errors=[{"field": "quantity", "message": "must be a positive whole number"}],
        )


def add_stock(
    variant: Variant,
    location: Location,
    quantity: int,
    *,
    kind: str,
    lot_code: str = NO_LOT,
    harvested_on: date | None = None,
    best_before: date | None = None,
    actor_id: int | None = None,
    reason: str = "",
    note: str = "",
    reference: str = "",
    strict_dates: bool = False,
) -> StockMovement:
    """Put ``quantity`` units into a lot at ``location`` (receipt, transfer in, return, found stock).

    With ``strict_dates`` a lot code already recorded at the location with another best-before date is
    refused (LotDatesDiffer): two batches must not hide under one code.
    """
    _positive(quantity)
    lvl = level_id(variant.id, location.id)
    lot = _lot_id(variant.id, location.id, lot_code or NO_LOT, harvested_on, best_before)
    if strict_dates and best_before is not None:
        recorded = db.session.scalar(select(Lot.best_before).where(Lot.id == lot))
        if recorded is not None and recorded != best_before:
            raise LotDatesDiffer(
                f"lot {lot_code} of {variant.sku} at {location.code} is recorded with best-before "
                f"{recorded.isoformat()}, not {best_before.isoformat()}; use another lot code",
                errors=[{"field": "best_before", "message": "differs from the recorded lot"}],
            )
    db.session.execute(update(Lot).where(Lot.id == lot).values(quantity=Lot.quantity + quantity))
    db.session.execute(
        update(StockLevel).where(StockLevel.id == lvl).values(on_hand=StockLevel.on_hand + quantity)
    )
    mv = _record(
        kind,
        variant_id=variant.id,
        location_id=location.id,
        quantity=quantity,
        lot_id=lot,
        actor_id=actor_id,
        reason=reason,
        note=note,
        reference=reference,
    )
    db.session.flush()
    return mv


def sellable_lots(variant_id: int, location_id: int, on: date | None) -> list[Lot]:
    """Lots with units left and not past best-before, first-expiry-first (undated lots last).

    With ``on=None`` expired lots are included (they come first: they expire first).
    """
    stmt = select(Lot).where(Lot.variant_id == variant_id, Lot.location_id == location_id, Lot.quantity > 0)
    if on is not None:
        stmt = stmt.where(or_(Lot.best_before.is_(None), Lot.best_before >= on))
    return list(
        db.session.scalars(
            stmt.order_by(Lot.best_before.is_(None), Lot.best_before, Lot.id).execution_options(
                populate_existing=True
            )
        )
    )


def _available(level: int, reserved: bool) -> int:
    row = db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved).where(StockLevel.id == level)
    ).one()
    return row.reserved if reserved else row.on_hand - row.reserved


def _keep_reservations_sellable(variant: Variant, location: Location, reserved: int, day: date) -> None:
    """Refuse to leave fewer sellable (unexpired) units than are reserved for online orders.

    ``on_hand - reserved`` counts expired units too, so a sale could otherwise take the last good units
    and leave the orders waiting at this location with only expired ones. ``reserved`` is the locked
    level row's, as the conditional update returned it.
    """
    if not reserved:
        return
    good = db.session.scalar(
        select(func.coalesce(func.sum(Lot.quantity), 0)).where(
            Lot.variant_id == variant.id,
            Lot.location_id == location.id,
            or_(Lot.best_before.is_(None), Lot.best_before >= day),
        )
    )
    if good < reserved:
        raise InsufficientStock(
            f"{variant.sku} at {location.code}: {reserved} units are reserved for online orders and only "
            f"{good} unexpired units would be left",
            sku=variant.sku,
            location=location.code,
        )


def _expire_stock_rows() -> None:
    """Expire the levels and lots loaded in the session: the conditional updates changed them in SQL.
    Nothing else is expired, so the caller's other objects are not loaded again."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, StockLevel | Lot):
            db.session.expire(obj)


def take_stock(
    variant: Variant,
    location: Location,
    quantity: int,
    *,
    kind: str,
    from_reserved: bool = False,
    on: date | None = None,
    include_expired: bool = False,
    actor_id: int | None = None,
    reason: str = "",
    note: str = "",
    reference: str = "",
) -> list[Take]:
    """Remove ``quantity`` units from ``location``'s lots, first-expiry-first; expired lots are skipped.

    With ``from_reserved`` the units come out of stock reserved earlier (an online order being fulfilled):
    on hand and reserved both drop. Otherwise only unreserved stock can be taken. With
    ``include_expired`` (write-offs) expired lots are taken too, and first. Raises InsufficientStock, or
    LotExpired when only expired units would cover it; the caller's transaction then changes nothing.
    """
    _positive(quantity)
    day = None if include_expired else (on or clock.today())
    # The conditional update both checks and locks the level row: concurrent takers of the same SKU at
    # the same location queue here, so the lot reads below see every earlier taker's committed result.
    # It returns the locked row's reserved units for the check that reservations stay sellable.
    here = and_(StockLevel.variant_id == variant.id, StockLevel.location_id == location.id)
    if from_reserved:
        cond = and_(here, StockLevel.reserved >= quantity)
        values = {"on_hand": StockLevel.on_hand - quantity, "reserved": StockLevel.reserved - quantity}
    else:
        cond = and_(here, StockLevel.on_hand - StockLevel.reserved >= quantity)
        values = {"on_hand": StockLevel.on_hand - quantity}
    locked = db.session.execute(
        update(StockLevel)
        .where(cond)
        .values(**values)
        .returning(StockLevel.reserved)
        .execution_options(synchronize_session=False)
    ).first()
    if locked is None:
        lvl = level_id(variant.id, location.id)
        raise InsufficientStock(
            f"not enough {variant.sku} at {location.code} for {quantity}: "
            f"{_available(lvl, from_reserved)} {'reserved' if from_reserved else 'available'}",
            sku=variant.sku,
            location=location.code,
        )
    takes: list[Take] = []
    remaining = quantity
    for lot in sellable_lots(variant.id, location.id, day):
        if remaining == 0:
            break
        n = min(lot.quantity, remaining)
        res = db.session.execute(
            update(Lot)
            .where(Lot.id == lot.id, Lot.quantity >= n)
            .values(quantity=Lot.quantity - n)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # pragma: no cover - the level lock above serialises takers
            continue
        takes.append(Take(lot.id, lot.code, n, lot.best_before))
        remaining -= n
    if not remaining and day is not None and not from_reserved:
        _keep_reservations_sellable(variant, location, locked.reserved, day)
    if remaining:
        raise LotExpired(
            f"{variant.sku} at {location.code}: {remaining} of the {quantity} units asked for are only in "
            f"lots past their best-before date (write them off as spoilage)",
            sku=variant.sku,
            location=location.code,
        )
    if from_reserved:
        # The reservation is consumed: record it on the ledger as its own line, lot-less.
        _record(
            kind,
            variant_id=variant.id,
            location_id=location.id,
            reserved_delta=-quantity,
            actor_id=actor_id,
            reason="reservation consumed",
            reference=reference,
        )
    for t in takes:
        _record(
            kind,
            variant_id=variant.id,
            location_id=location.id,
            quantity=-t.quantity,
            lot_id=t.lot_id,
            actor_id=actor_id,
            reason=reason,
            note=note,
            reference=reference,
        )
    _expire_stock_rows()
    db.session.flush()
    return takes


@dataclass(frozen=True)
class ReservedTake:
    """Reserved units one order line takes at picking, for ``take_reserved_many``."""

    variant_id: int
    location_id: int
    quantity: int
    reference: str


def take_reserved_many(
    wanted: list[ReservedTake], *, kind: str, on: date, reason: str = ""
) -> dict[int, list[Take]]:
    """``take_stock(..., from_reserved=True)`` for many order lines at once, in a fixed number of
    statements whatever their number: the levels locked in one (ascending id, as every taker does),
    their sellable lots read in one, the levels, the lots and the ledger written in one each.

    Lots are taken first-expiry-first in the order the lines are given, with the same movements one
    ``take_stock`` call per line writes (the reservation consumed, then one line per lot). Return the
    takes of each line (by its index in ``wanted``). Raises InsufficientStock when a level holds fewer
    reserved units than asked for, LotExpired when unexpired lots do not cover a line; the caller's
    savepoint then changes nothing.
    """
    need: dict[tuple[int, int], int] = {}
    for w in wanted:
        _positive(w.quantity)
        need[(w.variant_id, w.location_id)] = need.get((w.variant_id, w.location_id), 0) + w.quantity
    pairs = sorted(need)
    here = tuple_(StockLevel.variant_id, StockLevel.location_id).in_(pairs)
    levels = db.session.execute(
        select(StockLevel.id, StockLevel.variant_id, StockLevel.location_id, StockLevel.reserved)
        .where(here)
        .order_by(StockLevel.id)
        .with_for_update()
    ).all()
    level_of = {(r.variant_id, r.location_id): r for r in levels}
    for pair, quantity in need.items():
        level = level_of.get(pair)
        if level is None or level.reserved < quantity:
            raise InsufficientStock(
                f"variant {pair[0]} at location {pair[1]}: {quantity} asked for, "
                f"{level.reserved if level else 0} reserved",
                sku=str(pair[0]),
                location=str(pair[1]),
            )
    # The levels are locked: the lots below are every earlier taker's committed result.
    lots: dict[tuple[int, int], list[list]] = {}
    for lot in db.session.execute(
        select(Lot.id, Lot.variant_id, Lot.location_id, Lot.code, Lot.quantity, Lot.best_before)
        .where(
            tuple_(Lot.variant_id, Lot.location_id).in_(pairs),
            Lot.quantity > 0,
            or_(Lot.best_before.is_(None), Lot.best_before >= on),
        )
        .order_by(Lot.best_before.is_(None), Lot.best_before, Lot.id)
    ):
        lots.setdefault((lot.variant_id, lot.location_id), []).append(
            [lot.id, lot.code, lot.quantity, lot.best_before]
        )
    takes: dict[int, list[Take]] = {}
    taken_from: dict[int, int] = {}
    movements: list[dict] = []
    for i, w in enumerate(wanted):
        remaining = w.quantity
        line: list[Take] = []
        for lot in lots.get((w.variant_id, w.location_id), []):
            if remaining == 0:
                break
            n = min(lot[2], remaining)
            if n == 0:
                continue
            lot[2] -= n
            taken_from[lot[0]] = taken_from.get(lot[0], 0) + n
            line.append(Take(lot[0], lot[1], n, lot[3]))
            remaining -= n
        if remaining:
            raise LotExpired(
                f"variant {w.variant_id} at location {w.location_id}: {remaining} of the {w.quantity} "
                f"units asked for are only in lots past their best-before date",
                sku=str(w.variant_id),
                location=str(w.location_id),
            )
        takes[i] = line
        common = {
            "kind": kind,
            "variant_id": w.variant_id,
            "location_id": w.location_id,
            "actor_id": None,
            "note": "",
            "reference": w.reference,
        }
        movements.append(
            {
                **common,
                "lot_id": None,
                "quantity": 0,
                "reserved_delta": -w.quantity,
                "reason": "reservation consumed",
            }
        )
        movements.extend(
            {**common, "lot_id": t.lot_id, "quantity": -t.quantity, "reserved_delta": 0, "reason": reason}
            for t in line
        )
    levels_t, lots_t = StockLevel.__table__, Lot.__table__
    db.session.execute(
        update(levels_t)
        .where(levels_t.c.id == bindparam("level_id"))
        .values(on_hand=levels_t.c.on_hand - bindparam("n"), reserved=levels_t.c.reserved - bindparam("n")),
        [{"level_id": level_of[pair].id, "n": n} for pair, n in sorted(need.items())],
    )
    db.session.execute(
        update(lots_t)
        .where(lots_t.c.id == bindparam("lot_id"))
        .values(quantity=lots_t.c.quantity - bindparam("n")),
        [{"lot_id": lot_id, "n": n} for lot_id, n in sorted(taken_from.items())],
    )
    db.session.execute(insert(StockMovement.__table__), movements)  # one INSERT: every row has the same keys
    _expire_stock_rows()
    return takes


def take_from_lot(
    variant: Variant,
    location: Location,
    lot_code: str,
    quantity: int,
    *,
    kind: str,
    sellable_on: date | None = None,
    actor_id: int | None = None,
    reason: str = "",
    note: str = "",
    reference: str = "",
) -> Take:
    """Remove units from one named lot (spoilage of that lot, transfer of a lot); unreserved stock only.

    With ``sellable_on`` (a sale or a transfer) a lot past its best-before date on that day is refused.
    """
    _positive(quantity)
    lot = db.session.scalar(
        select(Lot).where(Lot.variant_id == variant.id, Lot.location_id == location.id, Lot.code == lot_code)
    )
    if lot is None:
        raise UnknownLot(
            f"no lot {lot_code} of {variant.sku} at {location.code}",
            errors=[{"field": "lot", "message": "unknown lot"}],
        )
    if sellable_on is not None and lot.best_before is not None and lot.best_before < sellable_on:
        raise LotExpired(
            f"lot {lot_code} of {variant.sku} at {location.code} expired on {lot.best_before.isoformat()}",
            sku=variant.sku,
            lot=lot_code,
        )
    lvl = level_id(variant.id, location.id)
    res = db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == lvl, StockLevel.on_hand - StockLevel.reserved >= quantity)
        .values(on_hand=StockLevel.on_hand - quantity)
    )
    if res.rowcount != 1:
        raise InsufficientStock(f"not enough unreserved {variant.sku} at {location.code}", sku=variant.sku)
    res = db.session.execute(
        update(Lot).where(Lot.id == lot.id, Lot.quantity >= quantity).values(quantity=Lot.quantity - quantity)
    )
    if res.rowcount != 1:
        raise InsufficientStock(f"lot {lot_code} holds fewer than {quantity}", sku=variant.sku)
    if sellable_on is not None:
        reserved = db.session.scalar(select(StockLevel.reserved).where(StockLevel.id == lvl))
        _keep_reservations_sellable(variant, location, reserved, sellable_on)
    _record(
        kind,
        variant_id=variant.id,
        location_id=location.id,
        quantity=-quantity,
        lot_id=lot.id,
        actor_id=actor_id,
        reason=reason,
        note=note,
        reference=reference,
    )
    db.session.expire_all()
    db.session.flush()
    return Take(lot.id, lot.code, quantity, lot.best_before)


def reserve(
    lines: list[tuple[Variant, int]], location: Location, *, reference: str, actor_id: int | None = None
) -> None:
    """Reserve every line at ``location`` or none: raise InsufficientStock naming the first short SKU.

    Levels are updated in ascending id order so concurrent multi-line reservations cannot deadlock. The
    movements are written before the updates: the first update locks a level row until commit, and
    every statement after it holds other buyers of that SKU waiting. A failed update raises, and the
    caller's transaction (or savepoint) takes the movements back with it.
    """
    for _variant, qty in lines:
        _positive(qty)
    found = dict(
        db.session.execute(
            select(StockLevel.variant_id, StockLevel.id).where(
                StockLevel.location_id == location.id,
                StockLevel.variant_id.in_([v.id for v, _q in lines]),
            )
        ).all()
    )
    ordered = sorted(
        ((found.get(v.id) or level_id(v.id, location.id), v, q) for v, q in lines), key=lambda t: t[0]
    )
    db.session.flush()
    # One INSERT for every line's movement (Core: no ORM objects to track for rows nobody reads here).
    db.session.execute(
        insert(StockMovement.__table__),
        [
            {
                "kind": "reservation",
                "variant_id": variant.id,
                "location_id": location.id,
                "lot_id": None,
                "quantity": 0,
                "reserved_delta": qty,
                "actor_id": actor_id,
                "reason": "",
                "note": "",
                "reference": reference,
            }
            for _lvl, variant, qty in ordered
        ],
    )
    for lvl, variant, qty in ordered:
        res = db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == lvl, StockLevel.on_hand - StockLevel.reserved >= qty)
            .values(reserved=StockLevel.reserved + qty)
        )
        if res.rowcount != 1:
            raise InsufficientStock(
                f"not enough {variant.sku} at {location.code} for {qty}",
                sku=variant.sku,
                location=location.code,
            )


def release(
    lines: list[tuple[Variant, int]],
    location: Location,
    *,
    reference: str,
    reason: str = "released",
    actor_id: int | None = None,
) -> None:
    """Give back reserved units (order expired or cancelled before fulfilment)."""
    ordered = sorted(((level_id(v.id, location.id), v, q) for v, q in lines), key=lambda t: t[0])
    for lvl, variant, qty in ordered:
        _positive(qty)
        res = db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == lvl, StockLevel.reserved >= qty)
            .values(reserved=StockLevel.reserved - qty)
        )
        if res.rowcount != 1:
            raise InsufficientStock(
                f"release of {qty} {variant.sku} exceeds what is reserved", sku=variant.sku
            )
        _record(
            "release",
            variant_id=variant.id,
            location_id=location.id,
            reserved_delta=-qty,
            actor_id=actor_id,
            reason=reason,
            reference=reference,
        )
    db.session.flush()


PICKED_KIND = "online_sale"  # how an online order's units leave their lots (shop.fulfilment.pick_order)
PUT_BACK_KIND = "pick_returned"


def put_back_picked(
    lines: list[tuple[Variant, int]],
    location: Location,
    *,
    picked_reference: str,
    reference: str,
    reason: str = "refunded before hand-over",
    actor_id: int | None = None,
) -> None:
    """Put units picked for an online order (``picked_reference``, its ``order:<id>``) back into the lots
    they were taken from: the order was refunded while its goods were still in the shop.

    Each lot gets back at most what the pick took from it less what earlier put-backs of the same pick
    returned (their movements carry the pick's reference in ``note``); on hand rises, nothing is
    reserved. Levels are locked in ascending id order, each before its lots, as takers do. Raises
    InsufficientStock when asked to put back more than the pick took.
    """
    ordered = sorted(((level_id(v.id, location.id), v, q) for v, q in lines), key=lambda t: t[0])
    for lvl, variant, qty in ordered:
        _positive(qty)
        db.session.execute(
            update(StockLevel).where(StockLevel.id == lvl).values(on_hand=StockLevel.on_hand + qty)
        )
        out_by_lot = db.session.execute(
            select(StockMovement.lot_id, func.sum(StockMovement.quantity))
            .where(
                StockMovement.variant_id == variant.id,
                StockMovement.location_id == location.id,
                StockMovement.lot_id.is_not(None),
                or_(
                    and_(StockMovement.kind == PICKED_KIND, StockMovement.reference == picked_reference),
                    and_(StockMovement.kind == PUT_BACK_KIND, StockMovement.note == picked_reference),
                ),
            )
            .group_by(StockMovement.lot_id)
            .order_by(StockMovement.lot_id.desc())
        ).all()
        remaining = qty
        for lot_id, net in out_by_lot:
            n = min(-int(net or 0), remaining)
            if n <= 0:
                continue
            db.session.execute(update(Lot).where(Lot.id == lot_id).values(quantity=Lot.quantity + n))
            _record(
                PUT_BACK_KIND,
                variant_id=variant.id,
                location_id=location.id,
                quantity=n,
                lot_id=lot_id,
                actor_id=actor_id,
                reason=reason,
                note=picked_reference,
                reference=reference,
            )
            remaining -= n
            if not remaining:
                break
        if remaining:
            raise InsufficientStock(
                f"cannot put back {qty} {variant.sku} at {location.code}: "
                f"only {qty - remaining} were picked for {picked_reference} and are not back yet",
                sku=variant.sku,
                location=location.code,
            )
    db.session.expire_all()
    db.session.flush()


def transit_location() -> Location:
    """Return the in-transit location, creating it on first use (race-safe upsert).

    It is not a place anyone sells from: everything there is reserved, and ``kind = 'transit'`` keeps
    it out of the public location list.
    """
    loc = db.session.scalar(select(Location).where(Location.code == TRANSIT_CODE))
    if loc is not None:
        return loc
    db.session.execute(
        _insert(Location.__table__)
        .values(
            code=TRANSIT_CODE,
            name_zh="在途",
            name_en="In transit",
            kind="transit",
            district="",
            address="",
            pickup=False,
            ships=False,
            opening_hours="",
        )
        .on_conflict_do_nothing(index_elements=["code"])
    )
    return db.session.scalar(select(Location).where(Location.code == TRANSIT_CODE))


def hold_in_transit(
    variant: Variant,
    quantity: int,
    *,
    lot_code: str,
    harvested_on: date | None,
    best_before: date | None,
    actor_id: int | None = None,
    reference: str = "",
) -> StockMovement:
    """Put units taken from a source into the in-transit lot ``lot_code``: on hand and reserved rise."""
    _positive(quantity)
    transit = transit_location()
    lvl = level_id(variant.id, transit.id)
    lot = _lot_id(variant.id, transit.id, lot_code, harvested_on, best_before)
    db.session.execute(update(Lot).where(Lot.id == lot).values(quantity=Lot.quantity + quantity))
    db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == lvl)
        .values(on_hand=StockLevel.on_hand + quantity, reserved=StockLevel.reserved + quantity)
    )
    mv = _record(
        "in_transit",
        variant_id=variant.id,
        location_id=transit.id,
        quantity=quantity,
        reserved_delta=quantity,
        lot_id=lot,
        actor_id=actor_id,
        reference=reference,
    )
    db.session.flush()
    return mv


def leave_transit(
    variant: Variant,
    quantity: int,
    *,
    lot_code: str,
    kind: str,
    actor_id: int | None = None,
    reason: str = "",
    note: str = "",
    reference: str = "",
) -> StockMovement:
    """Take units out of the in-transit lot ``lot_code`` (delivered, short, damaged or sent back)."""
    _positive(quantity)
    transit = transit_location()
    lvl = level_id(variant.id, transit.id)
    lot = db.session.scalar(
        select(Lot.id).where(
            Lot.variant_id == variant.id, Lot.location_id == transit.id, Lot.code == lot_code
        )
    )
    ok = lot is not None and (
        db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == lvl, StockLevel.reserved >= quantity)
            .values(on_hand=StockLevel.on_hand - quantity, reserved=StockLevel.reserved - quantity)
        ).rowcount
        == 1
        and db.session.execute(
            update(Lot)
            .where(Lot.id == lot, Lot.quantity >= quantity)
            .values(quantity=Lot.quantity - quantity)
        ).rowcount
        == 1
    )
    if not ok:
        raise InsufficientStock(f"fewer than {quantity} {variant.sku} in transit in lot {lot_code}")
    mv = _record(
        kind,
        variant_id=variant.id,
        location_id=transit.id,
        quantity=-quantity,
        reserved_delta=-quantity,
        lot_id=lot,
        actor_id=actor_id,
        reason=reason,
        note=note,
        reference=reference,
    )
    db.session.expire_all()
    db.session.flush()
    return mv


@dataclass(frozen=True)
class Drift:
    variant_id: int
    location_id: int
    lot_id: int | None
    field: str
    recorded: int
    from_ledger: int


def reconcile() -> list[Drift]:
    """Compare every level and lot with the sum of its movements; return each difference found."""

    drifts: list[Drift] = []
    sums = {
        (v, loc): (int(q or 0), int(r or 0))
        for v, loc, q, r in db.session.execute(
            select(
                StockMovement.variant_id,
                StockMovement.location_id,
                func.sum(StockMovement.quantity),
                func.sum(StockMovement.reserved_delta),
            ).group_by(StockMovement.variant_id, StockMovement.location_id)
        )
    }
    seen = set()
    for lvl in db.session.scalars(select(StockLevel)):
        key = (lvl.variant_id, lvl.location_id)
        seen.add(key)
        q, r = sums.get(key, (0, 0))
        if lvl.on_hand != q:
            drifts.append(Drift(key[0], key[1], None, "on_hand", lvl.on_hand, q))
        if lvl.reserved != r:
            drifts.append(Drift(key[0], key[1], None, "reserved", lvl.reserved, r))
    for key, (q, r) in sums.items():
        if key not in seen and (q or r):
            drifts.append(Drift(key[0], key[1], None, "on_hand", 0, q))
    lot_sums = dict(
        db.session.execute(
            select(StockMovement.lot_id, func.sum(StockMovement.quantity))
            .where(StockMovement.lot_id.is_not(None))
            .group_by(StockMovement.lot_id)
        ).all()
    )
    lots = {lot.id: lot for lot in db.session.scalars(select(Lot))}
    for lot in lots.values():
        expected = int(lot_sums.get(lot.id) or 0)
        if lot.quantity != expected:
            drifts.append(Drift(lot.variant_id, lot.location_id, lot.id, "lot", lot.quantity, expected))
    drifts.extend(_transit_drifts())
    return drifts


def _transit_drifts() -> list[Drift]:
    """Every open transfer line's outstanding units must be exactly what its in-transit lot holds."""
    transit_id = db.session.scalar(select(Location.id).where(Location.code == TRANSIT_CODE))
    if transit_id is None:
        return []
    held = {
        (variant_id, code): quantity
        for variant_id, code, quantity in db.session.execute(
            select(Lot.variant_id, Lot.code, Lot.quantity).where(Lot.location_id == transit_id)
        )
    }
    expected: dict[tuple[int, str], int] = {}
    for line in db.session.scalars(select(TransferLine).join(Transfer)):
        key = (line.variant_id, line.transit_lot_code)
        expected[key] = expected.get(key, 0) + line.outstanding
    drifts = []
    for key in sorted(set(held) | set(expected)):
        if held.get(key, 0) != expected.get(key, 0):
            drifts.append(
                Drift(key[0], transit_id, None, "in_transit", held.get(key, 0), expected.get(key, 0))
            )
    return drifts
