"""Counter (POS) sales at a hall or fair booth, safe to post again after the tablet was offline."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value

from shop.accounts.models import User
from shop.aid.services import SaleLine, record_sale
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.errors import ShopError, ValidationFailed
from shop.inventory import services as stock
from shop.inventory.errors import LocationClosed, NotASalesLocation, SaleIdReused
from shop.inventory.models import PAYMENT_METHODS, CounterSale, CounterSaleLine
from shop.inventory.queries import SELLING_KINDS
from shop.workunits import cards
from shop.workunits.models import PickupCard, WorkUnit
from shop.workunits.standing import AidStanding, unit_standing

# How long a tablet may hold a sale before posting it, and how far its clock may run ahead.
MAX_OFFLINE = timedelta(days=7)
MAX_CLOCK_AHEAD = timedelta(minutes=10)
MAX_LINES = 100


@dataclass(frozen=True)
class SaleResult:
    sale: CounterSale
    created: bool  # False: this client_sale_id was already recorded and nothing changed
    # For a new sale, the lots each variant's units came from: {variant id: [(lot, units, best-before)]}
    lots: dict[int, list[tuple[str, int, object]]] | None = None


def _merge(lines: list[tuple[Variant, int]]) -> OrderedDict[int, tuple[Variant, int]]:
    merged: OrderedDict[int, tuple[Variant, int]] = OrderedDict()
    for variant, qty in lines:
        stock._positive(qty)
        prev = merged.get(variant.id)
        merged[variant.id] = (variant, qty + (prev[1] if prev else 0))
    return merged


def _same_sale(sale: CounterSale, merged: OrderedDict[int, tuple[Variant, int]], paid_with: str) -> bool:
    recorded = {line.variant_id: line.quantity for line in sale.lines}
    return sale.paid_with == paid_with and recorded == {vid: q for vid, (_v, q) in merged.items()}


def _existing(location: Location, client_sale_id: str) -> CounterSale | None:
    return db.session.scalar(
        select(CounterSale)
        .where(CounterSale.location_id == location.id, CounterSale.client_sale_id == client_sale_id)
        .execution_options(populate_existing=True)
    )


def _replay(sale: CounterSale, merged, paid_with: str) -> SaleResult:
    if not _same_sale(sale, merged, paid_with):
        raise SaleIdReused(
            f"client_sale_id {sale.client_sale_id} was recorded at {sale.location.code} as sale {sale.id} "
            "with other lines or payment; a new sale needs a new client_sale_id",
            errors=[{"field": "client_sale_id", "message": "already used for a different sale"}],
            sale_id=sale.id,
        )
    return SaleResult(sale, created=False)


def _check_made_at(made_at: datetime, now: datetime) -> None:
    if made_at.tzinfo is None:
        raise ValidationFailed(
            "made_at needs a time zone", errors=[{"field": "made_at", "message": "time zone required"}]
        )
    if made_at > now + MAX_CLOCK_AHEAD:
        raise ValidationFailed(
            "made_at is in the future; check the tablet's clock",
            errors=[{"field": "made_at", "message": "in the future"}],
        )
    if made_at < now - MAX_OFFLINE:
        raise ValidationFailed(
            f"made_at is more than {MAX_OFFLINE.days} days ago; record it as an adjustment instead",
            errors=[{"field": "made_at", "message": "too old"}],
        )


def record_counter_sale(
    location: Location,
    *,
    client_sale_id: str,
    lines: list[tuple[Variant, int]],
    paid_with: str,
    actor: User | None,
    made_at: datetime | None = None,
    card_code: str | None = None,
) -> SaleResult:
    """Record a counter sale: take each SKU from the location's lots first-expiry-first.

    Posting the same ``client_sale_id`` again returns the first sale and changes nothing; the same id
    with other lines or payment is refused (SaleIdReused). Lots past their best-before on the day of
    the sale are never sold. Either every line is sold or, on any error, nothing is.

    ``paid_with="pickup_card"`` takes the sale's total from the card with ``card_code`` (a work unit's
    提货卡, redeemed part by part): refused whole when the card is unknown (wrong codes throttled per hall
    and operator), expired or short; the goods then count as the card's unit's direct purchase while
    that unit is verified.
    """
    client_sale_id = (client_sale_id or "").strip()
    if not 1 <= len(client_sale_id) <= 64:
        raise ValidationFailed(
            "client_sale_id must be 1 to 64 characters",
            errors=[{"field": "client_sale_id", "message": "1 to 64 characters"}],
        )
    if paid_with not in PAYMENT_METHODS:
        raise ValidationFailed(
            f"paid_with must be one of {', '.join(PAYMENT_METHODS)}",
            errors=[{"field": "paid_with", "message": "unknown payment method"}],
        )
    if not lines or len(lines) > MAX_LINES:
        raise ValidationFailed(
            f"a sale needs 1 to {MAX_LINES} lines", errors=[{"field": "lines", "message": "1 to 100 lines"}]
        )
    _check_card_code(paid_with, card_code)
    merged = _merge(lines)
    now = utcnow()
    made_at = made_at or now
    try:
        _check_can_sell(location, made_at, now)
    except ShopError:
        # A sale recorded earlier is returned as it was, even if it could not be recorded now.
        found = _existing(location, client_sale_id)
        if found is None:
            raise
        return _replay(found, merged, paid_with)

    # The sale row goes in first (prices and total known): a concurrent post of the same sale waits on
    # its unique index and, once this one commits, inserts nothing, before touching any stock, and then
    # returns this sale. No savepoint, no look-up before: a replay costs the insert and one select.
    sale = _insert_sale(
        location_id=location.id,
        client_sale_id=client_sale_id,
        paid_with=paid_with,
        total_fen=sum(variant.price_fen * qty for variant, qty in merged.values()),
        operator_id=actor.id if actor else None,
        made_at=made_at,
        received_at=now,
    )
    if sale is None:
        found = _existing(location, client_sale_id)
        if found is None:  # pragma: no cover - the insert met a row, so it exists
            raise RuntimeError(f"counter sale {client_sale_id} at {location.code} vanished")
        return _replay(found, merged, paid_with)
    card = None
    if paid_with == "pickup_card":
        card = cards.find_card(card_code or "", who=(location.code, str(actor.id if actor else 0)))

    day = clock.local_day(made_at)
    ordered = list(merged.values())
    if len(ordered) > 1:  # several levels: locked in ascending level id order, like every other taker
        levels = stock.level_ids([v.id for v, _q in ordered], location.id)
        ordered.sort(key=lambda vq: levels.get(vq[0].id, 0))
    lots: dict[int, list[tuple[str, int, object]]] = {}
    for variant, qty in ordered:
        takes = stock.take_stock(
            variant,
            location,
            qty,
            kind="counter_sale",
            on=day,
            actor_id=sale.operator_id,
            reason=f"paid with {paid_with}",
            reference=sale.reference_key,
        )
        lots[variant.id] = [(t.lot_code, t.quantity, t.best_before) for t in takes]
        sale.lines.append(
            CounterSaleLine(
                variant_id=variant.id,
                quantity=qty,
                unit_price_fen=variant.price_fen,
                amount_fen=variant.price_fen * qty,
            )
        )
    db.session.flush()
    standing = None
    if card is not None:
        standing = _pay_with_card(card, sale, location, day)
    _count_for_aid(sale, location, standing)
    return SaleResult(sale, created=True, lots=lots)


def _check_can_sell(location: Location, made_at: datetime, now: datetime) -> None:
    if location.kind not in SELLING_KINDS:
        raise NotASalesLocation(f"{location.code} is a {location.kind}, not a hall or fair booth")
    _check_made_at(made_at, now)
    if not location.is_active_on(clock.local_day(made_at)):
        raise LocationClosed(
            f"{location.code} sells only from {location.active_from or '…'} to {location.active_until or '…'}; "
            f"the sale is dated {clock.local_day(made_at)}",
            errors=[{"field": "made_at", "message": "the location is not open on that day"}],
        )


def _insert_sale(**values) -> CounterSale | None:
    """Insert the sale row unless its (location, client_sale_id) exists; the new row, or None.

    The new row has no lines yet: its collection is set empty rather than loaded."""
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(CounterSale)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["location_id", "client_sale_id"])
        .returning(CounterSale)
    )
    sale = db.session.scalars(
        select(CounterSale).from_statement(stmt).options(lazyload(CounterSale.lines))
    ).first()
    if sale is not None:
        set_committed_value(sale, "lines", [])
    return sale


def _check_card_code(paid_with: str, card_code: str | None) -> None:
    if paid_with == "pickup_card" and not (card_code or "").strip():
        raise ValidationFailed(
            "a pickup-card payment needs the card's code",
            errors=[{"field": "card_code", "message": "required when paid_with is pickup_card"}],
        )
    if paid_with != "pickup_card" and card_code:
        raise ValidationFailed(
            "card_code goes only with paid_with pickup_card",
            errors=[{"field": "card_code", "message": "only for pickup_card"}],
        )


def _pay_with_card(card: PickupCard, sale: CounterSale, location: Location, day) -> AidStanding:
    """Take the sale's total from the card; the goods are its unit's purchase (direct while verified)."""
    cards.redeem(
        card,
        sale.total_fen,
        source_key=sale.reference_key,
        on=day,
        counter_sale_id=sale.id,
        location_id=location.id,
        actor_id=sale.operator_id,
    )
    return unit_standing(db.session.get(WorkUnit, card.unit_id))


def _count_for_aid(sale: CounterSale, location: Location, standing: AidStanding | None = None) -> None:
    """Write the sale's aid ledger entries in this transaction (one per line, counted once per sale)."""
    record_sale(
        source=sale.reference_key,
        occurred_at=sale.made_at,
        channel="fair" if location.kind == "fair" else "hall",
        lines=[
            SaleLine(
                variant_id=line.variant_id,
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                location_id=location.id,
            )
            for line in sale.lines
        ],
        direct_purchase=standing.direct_purchase if standing else False,
        buyer_id=standing.buyer_id if standing else None,
    )
