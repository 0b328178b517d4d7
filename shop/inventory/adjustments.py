"""Adjustments (spoilage, damage, found stock...), stock counts and low-stock thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import uuid4

from sqlalchemy import select, update

from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import db
from shop.core.errors import ValidationFailed
from shop.inventory import services as stock
from shop.inventory.errors import (
    BadQuantity,
    BadReason,
    CountBelowReserved,
    InsufficientStock,
    LotExpired,
    UnknownLot,
)
from shop.inventory.models import Lot, StockCount, StockCountLine, StockLevel, StockMovement

# reason -> (allowed sign: -1 removes, +1 adds, 0 either; movement kind)
ADJUSTMENT_REASONS: dict[str, tuple[int, str]] = {
    "spoilage": (-1, "spoilage"),  # rotted, wilted
    "expired": (-1, "spoilage"),  # past best-before, written off
    "damage": (-1, "damage"),  # broken, crushed, wet
    "lost": (-1, "adjustment"),  # missing, theft
    "sample": (-1, "adjustment"),  # tasting samples given away
    "found": (1, "adjustment"),  # stock found that was not recorded
    "customer_return": (1, "return"),  # a customer brought goods back in sellable state
    "other": (0, "adjustment"),  # anything else: the note must say what
}
# Words clients use for the same reasons.
REASON_ALIASES = {
    "spoiled": "spoilage",
    "damaged": "damage",
    "found_stock": "found",
    "return": "customer_return",
    "loss": "lost",
}
MAX_COUNT_LINES = 500


def adjust_stock(
    location: Location,
    variant: Variant,
    quantity_delta: int,
    *,
    reason: str,
    actor: User | None,
    note: str = "",
    lot_code: str | None = None,
    harvested_on: date | None = None,
    best_before: date | None = None,
) -> list[StockMovement]:
    """Adjust on hand at ``location`` with a reason from the fixed list (plus free text in ``note``).

    Removals take from the named lot, else first-expiry-first including expired lots (they are usually
    what is written off); they never go below zero or below what is reserved. Additions go into the
    named lot (a new lot of a perishable needs its best-before) or, for non-perishables, lot ``-``.
    """
    reason = REASON_ALIASES.get(reason, reason)
    if reason not in ADJUSTMENT_REASONS:
        raise BadReason(
            f"reason must be one of {', '.join(ADJUSTMENT_REASONS)}",
            errors=[{"field": "reason", "message": "unknown reason"}],
        )
    sign, kind = ADJUSTMENT_REASONS[reason]
    if isinstance(quantity_delta, bool) or not isinstance(quantity_delta, int) or quantity_delta == 0:
        raise BadQuantity(
            "quantity_delta must be a non-zero whole number",
            errors=[{"field": "quantity_delta", "message": "must not be zero"}],
        )
    if sign and (quantity_delta > 0) != (sign > 0):
        raise BadReason(
            f"{reason} {'adds' if sign > 0 else 'removes'} stock: quantity_delta must be "
            f"{'positive' if sign > 0 else 'negative'}",
            errors=[{"field": "quantity_delta", "message": "wrong sign for this reason"}],
        )
    if reason == "other" and not note.strip():
        raise BadReason("reason 'other' needs a note", errors=[{"field": "note", "message": "required"}])
    actor_id = actor.id if actor else None
    ref = f"adjustment:{uuid4().hex[:16]}"
    common = {"actor_id": actor_id, "reason": reason, "note": note, "reference": ref}
    if quantity_delta < 0:
        qty = -quantity_delta
        try:
            if lot_code:
                stock.take_from_lot(variant, location, lot_code, qty, kind=kind, **common)
            else:
                stock.take_stock(variant, location, qty, kind=kind, include_expired=True, **common)
        except InsufficientStock as err:
            raise InsufficientStock(
                f"cannot remove {qty} {variant.sku} at {location.code}: that would take stock below zero "
                f"(or below what is reserved for orders). {err.detail}",
                sku=variant.sku,
                location=location.code,
            ) from None
    else:
        code, bb = _addition_lot(location, variant, lot_code, harvested_on, best_before)
        stock.add_stock(
            variant,
            location,
            quantity_delta,
            kind=kind,
            lot_code=code,
            harvested_on=harvested_on,
            best_before=bb,
            strict_dates=True,
            **common,
        )
    # The movements already say who and why; the audit log gives admins one place for staff actions.
    record(
        actor,
        "stock.adjust",
        target_type="location",
        target_id=location.code,
        sku=variant.sku,
        quantity_delta=quantity_delta,
        reason=reason,
        note=note,
        reference=ref,
    )
    return list(
        db.session.scalars(
            select(StockMovement).where(StockMovement.reference == ref).order_by(StockMovement.id)
        )
    )


def _addition_lot(
    location: Location,
    variant: Variant,
    lot_code: str | None,
    harvested_on: date | None,
    best_before: date | None,
) -> tuple[str, date | None]:
    code = (lot_code or "").strip()
    if not code:
        if variant.perishable:
            raise ValidationFailed(
                f"{variant.sku} is perishable: name the lot", errors=[{"field": "lot", "message": "required"}]
            )
        return stock.NO_LOT, None
    existing = db.session.scalar(
        select(Lot).where(Lot.variant_id == variant.id, Lot.location_id == location.id, Lot.code == code)
    )
    bb = best_before or (existing.best_before if existing else None)
    if bb is None and harvested_on and variant.shelf_life_days:
        bb = harvested_on + timedelta(days=variant.shelf_life_days)
    if existing is None and variant.perishable and bb is None:
        raise ValidationFailed(
            f"new lot {code} of perishable {variant.sku} needs best_before",
            errors=[{"field": "best_before", "message": "required for a new perishable lot"}],
        )
    if bb is not None and bb < clock.today():
        raise LotExpired(
            f"lot {code} of {variant.sku} is past its best-before ({bb.isoformat()}): it cannot be added",
            errors=[{"field": "lot", "message": "expired"}],
        )
    return code, bb


@dataclass(frozen=True)
class CountItem:
    variant: Variant
    counted: int
    lot_code: str | None = None


def record_count(
    location: Location, items: list[CountItem], *, actor: User | None, note: str = ""
) -> StockCount:
    """Record a stock count: set each counted SKU (or lot) to what was counted, by count corrections.

    A line with a lot sets that lot; a line without sets the SKU's total (missing units leave
    first-expiry-first, extra units join the newest lot, or lot ``-``). The level is locked before it
    is read, so no sale slips between reading the recorded quantity and correcting it. A count below
    what is reserved for online orders is refused.
    """
    if not items or len(items) > MAX_COUNT_LINES:
        raise ValidationFailed(
            f"a count needs 1 to {MAX_COUNT_LINES} lines", errors=[{"field": "lines", "message": "1 to 500"}]
        )
    seen: dict[int, set[str | None]] = {}
    for i, item in enumerate(items):
        if (
            isinstance(item.counted, bool)
            or not isinstance(item.counted, int)
            or not 0 <= item.counted <= stock.MAX_QUANTITY
        ):
            raise BadQuantity(
                "counted must be a whole number, zero or more",
                errors=[{"field": f"lines.{i}.counted", "message": "must be zero or more"}],
            )
        lots = seen.setdefault(item.variant.id, set())
        code = (item.lot_code or "").strip() or None
        if code in lots or (code is None and lots) or (code is not None and None in lots):
            raise ValidationFailed(
                f"{item.variant.sku} is counted twice (or both by lot and in total)",
                errors=[{"field": f"lines.{i}", "message": "duplicate"}],
            )
        lots.add(code)
    actor_id = actor.id if actor else None
    count = StockCount(location_id=location.id, actor_id=actor_id, note=note)
    db.session.add(count)
    db.session.flush()
    common = {"actor_id": actor_id, "reason": "stock count", "note": note, "reference": count.reference_key}
    for item in sorted(items, key=lambda it: stock.level_id(it.variant.id, location.id)):
        variant = item.variant
        lvl = stock.level_id(variant.id, location.id)
        # Lock the level (a no-op update takes the row lock) before reading what is recorded.
        db.session.execute(update(StockLevel).where(StockLevel.id == lvl).values(on_hand=StockLevel.on_hand))
        code = (item.lot_code or "").strip() or None
        lot_id = None
        if code:
            lot = db.session.scalar(
                select(Lot)
                .where(Lot.variant_id == variant.id, Lot.location_id == location.id, Lot.code == code)
                .execution_options(populate_existing=True)
            )
            if lot is None:
                raise UnknownLot(
                    f"no lot {code} of {variant.sku} at {location.code}; record found lots as an adjustment",
                    errors=[{"field": "lot", "message": "unknown lot"}],
                )
            expected, lot_id = lot.quantity, lot.id
        else:
            expected = db.session.scalar(
                select(StockLevel.on_hand)
                .where(StockLevel.id == lvl)
                .execution_options(populate_existing=True)
            )
        delta = item.counted - expected
        db.session.add(
            StockCountLine(
                count_id=count.id,
                variant_id=variant.id,
                lot_id=lot_id,
                expected=expected,
                counted=item.counted,
                delta=delta,
            )
        )
        if delta < 0:
            try:
                if code:
                    stock.take_from_lot(variant, location, code, -delta, kind="count_correction", **common)
                else:
                    stock.take_stock(
                        variant, location, -delta, kind="count_correction", include_expired=True, **common
                    )
            except InsufficientStock:
                reserved = db.session.scalar(select(StockLevel.reserved).where(StockLevel.id == lvl))
                raise CountBelowReserved(
                    f"{variant.sku}: {reserved} units are reserved for online orders, more than the count "
                    "leaves; hand over or release those orders first",
                    sku=variant.sku,
                ) from None
        elif delta > 0:
            if code is None:
                code = (
                    db.session.scalar(
                        select(Lot.code)
                        .where(Lot.variant_id == variant.id, Lot.location_id == location.id)
                        .order_by(Lot.best_before.desc().nulls_last(), Lot.id.desc())
                        .limit(1)
                    )
                    or stock.NO_LOT
                )
            stock.add_stock(variant, location, delta, kind="count_correction", lot_code=code, **common)
    db.session.flush()
    db.session.refresh(count)
    return count


def set_low_stock_threshold(
    location: Location, variant: Variant, threshold: int | None, *, actor: User | None = None
) -> StockLevel:
    """Set (or with None, clear back to the SKU's default) the low-stock threshold at ``location``."""
    if threshold is not None and (isinstance(threshold, bool) or not 0 <= threshold <= stock.MAX_QUANTITY):
        raise BadQuantity(
            "threshold must be zero or more", errors=[{"field": "threshold", "message": ">= 0"}]
        )
    lvl = stock.level_id(variant.id, location.id)
    db.session.execute(update(StockLevel).where(StockLevel.id == lvl).values(low_stock_threshold=threshold))
    # Not a stock movement, so the staff audit log keeps who changed it.
    record(
        actor,
        "stock.threshold_set",
        target_type="stock_level",
        target_id=lvl,
        sku=variant.sku,
        location=location.code,
        threshold=threshold,
    )
    db.session.flush()
    level = db.session.get(StockLevel, lvl)
    db.session.refresh(level)
    return level
