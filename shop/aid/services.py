"""Aid accounting: count every sale line once toward its programme, reverse refunds, keep rollups.

``record_sale`` and ``reverse_sale`` run inside the caller's unit of work (the payment, counter sale or
refund that causes them), so the entry and the state change commit together. Each line's
``source_key`` is unique: a retried webhook, replayed counter sale or re-run task cannot count twice (the
second call finds the entries and returns them). Rollups are updated in the same transaction with an
atomic upsert-increment, so totals always equal the sum of the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.aid.errors import NothingToReverse, UnknownChannel
from shop.aid.models import CHANNELS, AidEntry, AidProgramme, AidRollup
from shop.catalog.models import Product, Variant
from shop.core.db import db

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class SaleLine:
    """One sold line as the aid ledger needs it: what the buyer paid for it, after discounts."""

    variant_id: int
    quantity: int
    amount_fen: int
    location_id: int | None = None


def local_day(moment: datetime) -> date:
    """The calendar day in China on which ``moment`` happened (reports are by local day)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ).date()


def programme_on(day: date) -> AidProgramme | None:
    return db.session.scalar(
        select(AidProgramme)
        .where(AidProgramme.starts_on <= day, AidProgramme.ends_on >= day)
        .order_by(AidProgramme.starts_on.desc())
        .limit(1)
    )


def _bump_rollup(entry: AidEntry) -> None:
    if entry.programme_id is None:
        return
    values = {
        "programme_id": entry.programme_id,
        "day": entry.day,
        "channel": entry.channel,
        "category_id": entry.category_id,
        "producer_id": entry.producer_id,
        "township": entry.township,
        "location_id": entry.location_id or 0,
        "qualifying": entry.qualifying,
        "direct_purchase": entry.direct_purchase,
        "amount_fen": entry.amount_fen,
        "quantity": entry.quantity,
        "entries": 1,
    }
    insert = (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(AidRollup.__table__)
    stmt = insert.values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            "programme_id",
            "day",
            "channel",
            "category_id",
            "producer_id",
            "township",
            "location_id",
            "qualifying",
            "direct_purchase",
        ],
        set_={
            "amount_fen": AidRollup.__table__.c.amount_fen + stmt.excluded.amount_fen,
            "quantity": AidRollup.__table__.c.quantity + stmt.excluded.quantity,
            "entries": AidRollup.__table__.c.entries + 1,
        },
    )
    db.session.execute(stmt)


def _existing(source: str) -> list[AidEntry]:
    return list(db.session.scalars(select(AidEntry).where(AidEntry.source == source).order_by(AidEntry.id)))


def record_sale(
    *,
    source: str,
    occurred_at: datetime,
    channel: str,
    lines: list[SaleLine],
    direct_purchase: bool = False,
) -> list[AidEntry]:
    """Count the lines of one sale (an order's payment, a counter sale, an approved outside sale).

    Each line is qualifying only if its producer held a valid aid certificate on the sale's local day.
    Calling again with the same ``source`` returns the entries already written and counts nothing.
    """
    if channel not in CHANNELS:
        raise UnknownChannel(f"channel must be one of {', '.join(CHANNELS)}")
    done = _existing(source)
    if done:
        return done
    day = local_day(occurred_at)
    programme = programme_on(day)
    entries = []
    for i, line in enumerate(lines, start=1):
        variant = db.session.get(Variant, line.variant_id)
        product: Product = variant.product
        producer = product.producer
        cert = producer.certificate_on(day)
        entry = AidEntry(
            programme_id=programme.id if programme else None,
            source=source,
            source_key=f"{source}:line:{i}",
            occurred_at=occurred_at,
            day=day,
            channel=channel,
            category_id=product.category_id,
            product_id=product.id,
            variant_id=variant.id,
            producer_id=producer.id,
            township=producer.township,
            location_id=line.location_id,
            quantity=line.quantity,
            amount_fen=line.amount_fen,
            qualifying=cert is not None,
            certificate_number=cert.number if cert else None,
            direct_purchase=direct_purchase,
        )
        db.session.add(entry)
        entries.append(entry)
    db.session.flush()  # a concurrent duplicate fails here on the unique source_key, rolling back the caller
    for entry in entries:
        _bump_rollup(entry)
    return entries


def reverse_sale(
    *,
    source: str,
    original_source: str,
    occurred_at: datetime,
    lines: list[SaleLine],
) -> list[AidEntry]:
    """Write negative entries for refunded lines of ``original_source`` (full or partial refunds).

    A reversal keeps the original line's programme, channel, producer, qualifying and reported category
    (a refund takes back exactly what the sale counted) and is dated the day of the refund. Idempotent
    per ``source`` like ``record_sale``.
    """
    done = _existing(source)
    if done:
        return done
    originals = {e.variant_id: e for e in _existing(original_source) if e.reverses_id is None}
    day = local_day(occurred_at)
    entries = []
    for i, line in enumerate(lines, start=1):
        orig = originals.get(line.variant_id)
        if orig is None:
            raise NothingToReverse(f"{original_source} has no counted line for variant {line.variant_id}")
        entry = AidEntry(
            programme_id=orig.programme_id,
            source=source,
            source_key=f"{source}:line:{i}",
            reverses_id=orig.id,
            occurred_at=occurred_at,
            day=day,
            channel=orig.channel,
            category_id=orig.category_id,
            product_id=orig.product_id,
            variant_id=orig.variant_id,
            producer_id=orig.producer_id,
            township=orig.township,
            location_id=orig.location_id,
            quantity=-abs(line.quantity),
            amount_fen=-abs(line.amount_fen),
            qualifying=orig.qualifying,
            certificate_number=orig.certificate_number,
            direct_purchase=orig.direct_purchase,
        )
        db.session.add(entry)
        entries.append(entry)
    db.session.flush()
    for entry in entries:
        _bump_rollup(entry)
    return entries


def current_programme(on: date | None = None) -> AidProgramme | None:
    """Return the programme whose period contains ``on`` (today by default), else the latest one."""
    day = on or local_day(datetime.now(UTC))
    return programme_on(day) or db.session.scalar(
        select(AidProgramme).order_by(AidProgramme.ends_on.desc()).limit(1)
    )


def programme_total_fen(programme: AidProgramme, *, qualifying_only: bool = True) -> int:
    """Consumption-aid sales counted toward ``programme`` so far, in fen (read from the rollups)."""
    stmt = select(func.coalesce(func.sum(AidRollup.amount_fen), 0)).where(
        AidRollup.programme_id == programme.id
    )
    if qualifying_only:
        stmt = stmt.where(AidRollup.qualifying.is_(True))
    return int(db.session.scalar(stmt) or 0)


def headline() -> dict | None:
    """Return the storefront banner figures for the current programme."""
    prog = current_programme()
    if prog is None:
        return None
    total = programme_total_fen(prog)
    return {
        "code": prog.code,
        "name_zh": prog.name_zh,
        "name_en": prog.name_en,
        "target_fen": prog.target_fen,
        "total_fen": total,
        "percent": round(100 * total / prog.target_fen, 2) if prog.target_fen else 0,
    }
