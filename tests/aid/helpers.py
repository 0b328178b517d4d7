"""Small factories for aid tests: ledger activity goes through record_sale / reverse_sale, as in the shop."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from shop.aid.models import AidEntry, AidProgramme, AidRollup
from shop.aid.services import SaleLine, record_sale, reverse_sale
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import atomic, db


def variant(sku: str) -> Variant:
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def location_id(code: str) -> int:
    return db.session.scalar(select(Location.id).where(Location.code == code))


def programme() -> AidProgramme:
    return db.session.scalar(select(AidProgramme).order_by(AidProgramme.starts_on.desc()))


def noon(day: date) -> datetime:
    """Midday in China on ``day`` (so the entry's local day is ``day``)."""
    return clock.at_local(day)


def sell(
    source: str,
    day: date,
    channel: str,
    *lines: tuple,
    direct: bool = False,
    buyer_id=None,
    at: str | None = None,
):
    """Count a sale: lines are (sku, quantity, amount_fen)."""
    loc = location_id(at) if at else None
    with atomic():
        return record_sale(
            source=source,
            occurred_at=noon(day),
            channel=channel,
            lines=[SaleLine(variant(sku).id, q, a, loc) for sku, q, a in lines],
            direct_purchase=direct,
            buyer_id=buyer_id,
        )


def refund(source: str, original: str, day: date, *lines: tuple):
    with atomic():
        return reverse_sale(
            source=source,
            original_source=original,
            occurred_at=noon(day),
            lines=[SaleLine(variant(sku).id, q, a) for sku, q, a in lines],
        )


def ledger_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(AidEntry.amount_fen), 0))))


def rollup_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(AidRollup.amount_fen), 0))))


def entry_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AidEntry)))
