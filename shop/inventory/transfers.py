"""Consignments and transfers (send, receive line by line, cancel) and direct receipts of goods.

A consignment is a transfer whose source is the Gangu warehouse. Sending takes the units from the
source's lots (first-expiry-first, or the named lot) and holds them at the in-transit location; the
destination then receives what arrived, and what was short or damaged leaves transit as its own
movement and discrepancy record. Over-receipts are refused, and kept on the transfer as ``over``
discrepancies (the refusal is ``recorded``: its unit of work commits them, nothing else).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import uuid4

from sqlalchemy import select, update

from shop.accounts.models import User
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.errors import ValidationFailed
from shop.inventory import services as stock
from shop.inventory.errors import LotExpired, ReceiptExceedsShipment, TransferClosed
from shop.inventory.models import Lot, StockMovement, Transfer, TransferDiscrepancy, TransferLine

MAX_LINES = 200


@dataclass(frozen=True)
class SendItem:
    variant: Variant
    quantity: int
    lot_code: str | None = None


@dataclass(frozen=True)
class ReceiveItem:
    variant: Variant
    quantity: int  # arrived in good order
    damaged: int = 0  # arrived, but not sellable
    lot_code: str | None = None


@dataclass(frozen=True)
class ReceiptItem:
    variant: Variant
    quantity: int
    lot_code: str | None = None
    harvested_on: date | None = None
    best_before: date | None = None


def _lines_field(i: int, name: str) -> str:
    return f"lines.{i}.{name}"


def send_transfer(
    source: Location,
    destination: Location,
    items: list[SendItem],
    *,
    actor: User | None,
    note: str = "",
    reference: str = "",
) -> Transfer:
    """Send goods from ``source`` to ``destination``; they stay in transit until received.

    Units leave the source's lots at once (first-expiry-first, or the named lot; never expired ones).
    """
    if source.id == destination.id:
        raise ValidationFailed(
            "a transfer needs two different locations", errors=[{"field": "to", "message": "same as from"}]
        )
    if not items or len(items) > MAX_LINES:
        raise ValidationFailed(
            f"a transfer needs 1 to {MAX_LINES} lines", errors=[{"field": "lines", "message": "1 to 200"}]
        )
    for item in items:
        stock._positive(item.quantity)
    actor_id = actor.id if actor else None
    transfer = Transfer(
        kind="consignment" if source.kind == "warehouse" else "transfer",
        status="in_transit",
        from_location_id=source.id,
        to_location_id=destination.id,
        note=note,
        reference=reference,
        created_by_id=actor_id,
    )
    db.session.add(transfer)
    db.session.flush()
    ref = transfer.reference_key
    today = clock.today()
    lines: dict[tuple[int, str], TransferLine] = {}
    # Levels are taken in ascending id order, like every other multi-line stock change (no deadlocks).
    ordered = sorted(items, key=lambda it: stock.level_id(it.variant.id, source.id))
    for item in ordered:
        if item.lot_code:
            takes = [
                stock.take_from_lot(
                    item.variant,
                    source,
                    item.lot_code,
                    item.quantity,
                    kind="transfer_out",
                    sellable_on=today,
                    actor_id=actor_id,
                    reference=ref,
                )
            ]
        else:
            takes = stock.take_stock(
                item.variant,
                source,
                item.quantity,
                kind="transfer_out",
                on=today,
                actor_id=actor_id,
                reference=ref,
            )
        for take in takes:
            harvested_on = db.session.scalar(select(Lot.harvested_on).where(Lot.id == take.lot_id))
            key = (item.variant.id, take.lot_code)
            line = lines.get(key)
            if line is None:
                line = TransferLine(
                    transfer_id=transfer.id,
                    variant_id=item.variant.id,
                    lot_code=take.lot_code,
                    harvested_on=harvested_on,
                    best_before=take.best_before,
                    quantity_sent=0,
                )
                lines[key] = line
                db.session.add(line)
            line.quantity_sent += take.quantity
            stock.hold_in_transit(
                item.variant,
                take.quantity,
                lot_code=f"T{transfer.id}:{take.lot_code}",
                harvested_on=harvested_on,
                best_before=take.best_before,
                actor_id=actor_id,
                reference=ref,
            )
    db.session.flush()
    db.session.refresh(transfer)
    return transfer


def _lock_open(transfer: Transfer) -> None:
    """Lock the transfer row (concurrent receivers queue here) and check it is still open."""
    res = db.session.execute(
        update(Transfer)
        .where(Transfer.id == transfer.id, Transfer.status.in_(("in_transit", "partially_received")))
        .values(status=Transfer.status)
    )
    if res.rowcount != 1:
        db.session.refresh(transfer)
        raise TransferClosed(f"transfer {transfer.number} is {transfer.status}")
    # Refresh the lines: the allocation must see what earlier receivers committed.
    db.session.scalars(
        select(TransferLine)
        .where(TransferLine.transfer_id == transfer.id)
        .execution_options(populate_existing=True)
    ).all()


def _allocate(transfer: Transfer, items: list[ReceiveItem]) -> tuple[dict[int, list[int]], list[dict]]:
    """Spread each reported quantity over the transfer's lines: ``{line id: [received, damaged]}``, and
    every excess (a SKU or lot reported beyond what is in transit)."""
    outstanding = {line.id: line.outstanding for line in transfer.lines}
    plan: dict[int, list[int]] = {}
    excess = []
    for i, item in enumerate(items):
        if item.quantity < 0 or item.damaged < 0 or item.quantity + item.damaged == 0:
            raise ValidationFailed(
                "received and damaged quantities must not be negative and not both zero",
                errors=[{"field": _lines_field(i, "quantity"), "message": "must be positive"}],
            )
        candidates = [
            line
            for line in transfer.lines
            if line.variant_id == item.variant.id
            and (item.lot_code is None or line.lot_code == item.lot_code)
        ]
        if not candidates:
            raise ValidationFailed(
                f"{item.variant.sku}{' lot ' + item.lot_code if item.lot_code else ''} is not on "
                f"transfer {transfer.number}",
                errors=[{"field": _lines_field(i, "sku"), "message": "not on this transfer"}],
            )
        candidates.sort(key=lambda ln: (ln.best_before is None, ln.best_before or date.max, ln.id))
        for slot, wanted in ((0, item.quantity), (1, item.damaged)):
            for line in candidates:
                n = min(wanted, outstanding[line.id])
                if n:
                    plan.setdefault(line.id, [0, 0])[slot] += n
                    outstanding[line.id] -= n
                    wanted -= n
            if wanted:
                excess.append(
                    {
                        "sku": item.variant.sku,
                        "lot": item.lot_code,
                        "in_transit": sum(ln.outstanding for ln in candidates),
                        "reported": item.quantity + item.damaged,
                        "variant_id": item.variant.id,
                    }
                )
                break
    return plan, excess


def _refuse_over_receipt(transfer: Transfer, excess: list[dict], *, actor_id: int | None) -> None:
    """Keep the refused report as ``over`` discrepancies (no stock changes), then refuse it."""
    for e in excess:
        db.session.add(
            TransferDiscrepancy(
                transfer_id=transfer.id,
                variant_id=e["variant_id"],
                lot_code=e["lot"] or "",
                kind="over",
                quantity=e["reported"] - e["in_transit"],
                accepted=False,
                actor_id=actor_id,
                note=f"refused: {e['reported']} reported, {e['in_transit']} in transit",
            )
        )
    db.session.flush()
    raise ReceiptExceedsShipment(
        "; ".join(
            f"{e['sku']}: {e['reported']} reported but only {e['in_transit']} in transit" for e in excess
        )
        + ". Nothing was received; count again, or record extra goods as found stock.",
        errors=[{"field": "lines", "message": f"more {e['sku']} than was sent"} for e in excess],
        excess=[{k: v for k, v in e.items() if k != "variant_id"} for e in excess],
    )


def receive_transfer(
    transfer: Transfer,
    items: list[ReceiveItem],
    *,
    actor: User | None,
    final: bool = True,
    note: str = "",
) -> Transfer:
    """Receive what arrived of a transfer at its destination, line by line.

    Good units enter the destination's lot of the same code and dates; damaged units leave transit as
    damage. With ``final`` whatever is still in transit afterwards is recorded as a shortfall and the
    transfer is closed; without it the rest stays in transit for a later receipt. Reporting more than is
    in transit receives nothing: it is kept as ``over`` discrepancies and refused (ReceiptExceedsShipment,
    a recorded refusal).
    """
    _lock_open(transfer)
    plan, excess = _allocate(transfer, items)
    actor_id = actor.id if actor else None
    if excess:
        _refuse_over_receipt(transfer, excess, actor_id=actor_id)
    ref = transfer.reference_key
    destination = transfer.to_location
    for line in transfer.lines:
        received, damaged = plan.get(line.id, (0, 0))
        short = line.outstanding - received - damaged if final else 0
        if not (received or damaged or short):
            continue
        res = db.session.execute(
            update(TransferLine)
            .where(
                TransferLine.id == line.id,
                TransferLine.quantity_sent
                - TransferLine.quantity_received
                - TransferLine.quantity_short
                - TransferLine.quantity_damaged
                - TransferLine.quantity_returned
                >= received + damaged + short,
            )
            .values(
                quantity_received=TransferLine.quantity_received + received,
                quantity_damaged=TransferLine.quantity_damaged + damaged,
                quantity_short=TransferLine.quantity_short + short,
            )
        )
        if res.rowcount != 1:  # pragma: no cover - the transfer row lock serialises receivers
            raise TransferClosed(f"transfer {transfer.number} changed while receiving; try again")
        variant = line.variant
        if received:
            stock.leave_transit(
                variant,
                received,
                lot_code=line.transit_lot_code,
                kind="transit_delivered",
                actor_id=actor_id,
                reference=ref,
            )
            stock.add_stock(
                variant,
                destination,
                received,
                kind="transfer_in",
                lot_code=line.lot_code,
                harvested_on=line.harvested_on,
                best_before=line.best_before,
                actor_id=actor_id,
                reason=transfer.kind,
                note=note,
                reference=ref,
            )
        for kind, qty, movement in (
            ("damaged", damaged, "transit_damage"),
            ("short", short, "transit_shortfall"),
        ):
            if not qty:
                continue
            stock.leave_transit(
                variant,
                qty,
                lot_code=line.transit_lot_code,
                kind=movement,
                actor_id=actor_id,
                note=note,
                reference=ref,
            )
            db.session.add(
                TransferDiscrepancy(
                    transfer_id=transfer.id,
                    variant_id=variant.id,
                    lot_code=line.lot_code,
                    kind=kind,
                    quantity=qty,
                    accepted=True,
                    actor_id=actor_id,
                    note=note,
                )
            )
    db.session.flush()
    db.session.expire_all()
    still = sum(line.outstanding for line in transfer.lines)
    done = sum(
        line.quantity_received + line.quantity_damaged + line.quantity_short for line in transfer.lines
    )
    transfer.status = "received" if still == 0 else ("partially_received" if done else "in_transit")
    if still == 0:
        transfer.closed_at = utcnow()
        transfer.closed_by_id = actor_id
    db.session.flush()
    return transfer


def cancel_transfer(transfer: Transfer, *, actor: User | None, note: str = "") -> Transfer:
    """Call back a transfer nothing of which was received yet: every unit returns to its source lot."""
    _lock_open(transfer)
    if not transfer.cancellable:
        raise TransferClosed(f"transfer {transfer.number} was partly received; receive the rest instead")
    actor_id = actor.id if actor else None
    ref = transfer.reference_key
    for line in transfer.lines:
        qty = line.outstanding
        stock.leave_transit(
            line.variant,
            qty,
            lot_code=line.transit_lot_code,
            kind="transit_returned",
            actor_id=actor_id,
            reference=ref,
        )
        stock.add_stock(
            line.variant,
            transfer.from_location,
            qty,
            kind="transfer_in",
            lot_code=line.lot_code,
            harvested_on=line.harvested_on,
            best_before=line.best_before,
            actor_id=actor_id,
            reason="transfer cancelled",
            note=note,
            reference=ref,
        )
        line.quantity_returned += qty
    transfer.status = "cancelled"
    transfer.closed_at = utcnow()
    transfer.closed_by_id = actor_id
    db.session.flush()
    return transfer


def _receipt_dates(item: ReceiptItem, i: int, today: date) -> tuple[str, date | None]:
    variant = item.variant
    lot_code = (item.lot_code or "").strip()
    best_before = item.best_before
    if best_before is None and item.harvested_on and variant.shelf_life_days:
        best_before = item.harvested_on + timedelta(days=variant.shelf_life_days)
    if variant.perishable and not lot_code:
        raise ValidationFailed(
            f"{variant.sku} is perishable: give its lot code",
            errors=[{"field": _lines_field(i, "lot"), "message": "required for perishables"}],
        )
    if variant.perishable and best_before is None:
        raise ValidationFailed(
            f"{variant.sku} is perishable: give best_before (or harvested_on)",
            errors=[{"field": _lines_field(i, "best_before"), "message": "required for perishables"}],
        )
    if item.harvested_on and item.harvested_on > today:
        raise ValidationFailed(
            "harvested_on is in the future",
            errors=[{"field": _lines_field(i, "harvested_on"), "message": "future"}],
        )
    if item.harvested_on and best_before and best_before < item.harvested_on:
        raise ValidationFailed(
            "best_before is before harvested_on",
            errors=[{"field": _lines_field(i, "best_before"), "message": "before harvested_on"}],
        )
    if best_before is not None and best_before < today:
        raise LotExpired(
            f"lot {lot_code or stock.NO_LOT} of {variant.sku} expired on {best_before.isoformat()}; "
            "expired goods cannot be received for sale",
            errors=[{"field": _lines_field(i, "best_before"), "message": "in the past"}],
        )
    return lot_code or stock.NO_LOT, best_before


def receive_goods(
    location: Location,
    items: list[ReceiptItem],
    *,
    actor: User | None,
    reference: str = "",
    note: str = "",
) -> list[StockMovement]:
    """Receive goods from a producer or supplier into lots at ``location`` (a receipt movement each).

    Perishables need a lot code and a best-before (or a harvest date and the SKU's shelf life); expired
    goods are refused; a lot code already recorded with another best-before is refused.
    """
    if not items or len(items) > MAX_LINES:
        raise ValidationFailed(
            f"a receipt needs 1 to {MAX_LINES} lines", errors=[{"field": "lines", "message": "1 to 200"}]
        )
    today = clock.today()
    ref = reference or f"receipt:{uuid4().hex[:16]}"
    prepared = []
    for i, item in enumerate(items):
        stock._positive(item.quantity)
        prepared.append((item, *_receipt_dates(item, i, today)))
    movements = []
    for item, lot_code, best_before in sorted(
        prepared, key=lambda p: stock.level_id(p[0].variant.id, location.id)
    ):
        movements.append(
            stock.add_stock(
                item.variant,
                location,
                item.quantity,
                kind="receipt",
                lot_code=lot_code,
                harvested_on=item.harvested_on,
                best_before=best_before,
                actor_id=actor.id if actor else None,
                reason="receipt",
                note=note,
                reference=ref,
                strict_dates=True,
            )
        )
    return movements
