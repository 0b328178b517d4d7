"""Aid accounting: count every sale line once toward its programme, reverse refunds, keep rollups.

``record_sale`` and ``reverse_sale`` run inside the caller's unit of work (the payment, counter sale or
refund that causes them), so the entry and the state change commit together. Each line's
``source_key`` is unique: a retried webhook, replayed counter sale or re-run task cannot count twice (the
second call finds the entries and returns them; a concurrent duplicate waits for the winner's commit, then
its ``ON CONFLICT DO NOTHING`` skips the rows and it returns the winner's entries). Rollups are updated in the same
transaction with an atomic upsert-increment, so totals always equal the sum of the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.aid import cache
from shop.aid.errors import BadSaleLine, NothingToReverse, RefundExceedsSale, UnknownChannel
from shop.aid.models import CHANNELS, ROLLUP_DIMS, ROLLUP_SUMS, AidEntry, AidProgramme, AidRollup
from shop.aid.upserts import adding_upsert
from shop.catalog.models import AidCertificate, Producer, Product, Variant
from shop.core import clock
from shop.core.db import after_commit, db, in_unit_of_work


@dataclass(frozen=True)
class SaleLine:
    """One sold line as the aid ledger needs it: what the buyer paid for it, after discounts."""

    variant_id: int
    quantity: int
    amount_fen: int
    location_id: int | None = None


def programme_on(day: date) -> AidProgramme | None:
    return db.session.scalar(
        select(AidProgramme)
        .where(AidProgramme.starts_on <= day, AidProgramme.ends_on >= day)
        .order_by(AidProgramme.starts_on.desc())
        .limit(1)
    )


def _rollup_key(entry: AidEntry) -> tuple:
    return tuple((entry.location_id or 0) if k == "location_id" else getattr(entry, k) for k in ROLLUP_DIMS)


def _row_key(row: dict) -> tuple:
    """``_rollup_key`` of a ledger row not loaded as an entry (``count_rows``)."""
    return tuple((row.get("location_id") or 0) if k == "location_id" else row[k] for k in ROLLUP_DIMS)


def _bump_rollups(entries: list[AidEntry]) -> None:
    """Add ``entries`` to their rollup rows: one atomic upsert-increment per row, in key order.

    Every transaction takes the rollup rows it touches in the same (sorted) order, whatever order the
    caller's lines came in, so two concurrent sales or refunds sharing rows cannot deadlock.
    """
    _bump_sums(
        _sums_by_key(
            (_rollup_key(e), e.amount_fen, e.quantity) for e in entries if e.programme_id is not None
        )
    )


def _sums_by_key(lines: Iterable[tuple[tuple, int, int]]) -> dict[tuple, list[int]]:
    """``{rollup key: [amount, quantity, entries]}`` of ``(rollup key, amount, quantity)`` lines."""
    sums: dict[tuple, list[int]] = {}
    for key, amount, quantity in lines:
        acc = sums.setdefault(key, [0, 0, 0])
        acc[0] += amount
        acc[1] += quantity
        acc[2] += 1
    return sums


def _sum_rows(sums: dict[tuple, list[int]]) -> list[dict]:
    """The rollup rows of ``{rollup key: [amount, quantity, entries]}``, in key order."""
    return [
        {**dict(zip(ROLLUP_DIMS, key, strict=True)), **dict(zip(ROLLUP_SUMS, sums[key], strict=True))}
        for key in sorted(sums)
    ]


def _bump_sums(sums: dict[tuple, list[int]]) -> None:
    """Add ``{rollup key: [amount, quantity, entries]}`` to the rollup rows: one multi-row
    ``INSERT .. VALUES .. ON CONFLICT DO UPDATE`` with the rows in key order (the order the database
    takes their locks in), so every writer takes them in the same order."""
    if not sums:
        return
    db.session.execute(adding_upsert(AidRollup.__table__, ROLLUP_DIMS, ROLLUP_SUMS, rows=_sum_rows(sums)))


def _existing(source: str) -> list[AidEntry]:
    return list(db.session.scalars(select(AidEntry).where(AidEntry.source == source).order_by(AidEntry.id)))


def _check_lines(lines: list[SaleLine], *, refund: bool = False) -> None:
    # A refund may give money back without goods (quantity 0: a discount after the fact); a sale may not.
    least = 0 if refund else 1
    for line in lines:
        if line.quantity < least or line.amount_fen < 0:
            raise BadSaleLine(
                f"variant {line.variant_id}: quantity must be at least {least} and amount_fen not negative",
                errors=[{"field": "lines", "message": f"quantity >= {least} and amount_fen >= 0"}],
            )


def _append(source: str, rows: list[dict]) -> list[AidEntry]:
    """Insert the entries of one source once; return what the ledger holds for ``source``.

    One ``INSERT ... ON CONFLICT (source_key) DO NOTHING RETURNING`` statement: when a concurrent call
    with the same source got there first, PostgreSQL waits for it to commit and then skips our rows, and
    the caller's unit of work (a payment, a counter sale) carries on with the entries the winner wrote.
    No savepoint, no pre-check round trip on the common path.
    """
    if not rows:
        return []
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(AidEntry).on_conflict_do_nothing(index_elements=["source_key"]).returning(AidEntry)
    entries = list(db.session.scalars(stmt, rows))
    if len(entries) < len(rows):
        if entries:  # a source's lines are written in one statement, so this cannot happen
            raise RuntimeError(f"{source} was partly counted already")
        return _existing(source)
    _bump_rollups(entries)
    _invalidate_headline({e.programme_id for e in entries if e.programme_id is not None})
    return entries


def _bump_sums_bulk(sums: dict[tuple, list[int]]) -> None:
    """``_bump_sums`` for many rollup rows at once: one upsert statement executed for every key (compiled
    once; psycopg pipelines the rows), in the same (sorted) key order, so it takes row locks in the order
    every other writer does."""
    if not sums:
        return
    db.session.execute(adding_upsert(AidRollup.__table__, ROLLUP_DIMS, ROLLUP_SUMS), _sum_rows(sums))


def _bump_rollups_from_ledger(source_keys: list[str]) -> None:
    """Add the just-written entries ``source_keys`` to the rollups with one set-based statement
    (PostgreSQL): ``INSERT .. SELECT .. GROUP BY .. ORDER BY <the rollup key> ON CONFLICT DO UPDATE``,
    the rows taken in key order like every other writer's."""
    if not source_keys:
        return
    e = AidEntry
    dims = [
        func.coalesce(e.location_id, 0).label("location_id") if d == "location_id" else getattr(e, d)
        for d in ROLLUP_DIMS
    ]
    grouped = (
        select(*dims, func.sum(e.amount_fen), func.sum(e.quantity), func.count())
        .where(e.source_key.in_(source_keys))
        .group_by(*dims)
        .order_by(*dims)
    )
    db.session.execute(adding_upsert(AidRollup.__table__, ROLLUP_DIMS, ROLLUP_SUMS, select=grouped))


def count_rows(rows: list[dict]) -> int:
    """Append ledger rows that are new by construction (a bulk import's lines, each with a ``source_key``
    no one else writes) and add them to the rollups in the same transaction; return the amount counted.

    For bulk paths (partner-platform imports and their voids): one multi-row INSERT and one upsert per
    rollup row, without loading the entries back. A row whose ``source_key`` exists is a bug, and the
    unique constraint fails the whole unit of work rather than counting it twice.
    """
    if not rows:
        return 0
    db.session.execute(AidEntry.__table__.insert(), rows)
    if db.engine.dialect.name == "postgresql":
        _bump_rollups_from_ledger([r["source_key"] for r in rows if r["programme_id"] is not None])
        _invalidate_headline({r["programme_id"] for r in rows if r["programme_id"] is not None})
        return sum(r["amount_fen"] for r in rows)
    counted = [r for r in rows if r["programme_id"] is not None]
    _bump_sums_bulk(_sums_by_key((_row_key(r), r["amount_fen"], r["quantity"]) for r in counted))
    _invalidate_headline({r["programme_id"] for r in rows if r["programme_id"] is not None})
    return sum(r["amount_fen"] for r in rows)


def _invalidate_headline(programme_ids: set[int]) -> None:
    if not programme_ids:
        return
    ids = sorted(programme_ids)

    def drop() -> None:
        cache.invalidate_progress(ids)

    # Drop the cached banner figures once the entries are visible to other processes, not before.
    if in_unit_of_work():
        after_commit(drop)
    else:
        drop()


def record_sale(
    *,
    source: str,
    occurred_at: datetime,
    channel: str,
    lines: list[SaleLine],
    direct_purchase: bool = False,
    buyer_id: int | None = None,
    producer_id: int | None = None,
) -> list[AidEntry]:
    """Count the lines of one sale (an order's payment, a counter sale, an approved outside sale).

    Each line is qualifying only if its producer held a valid aid certificate on the sale's local day.
    Work-unit sales are always direct purchase; everything else is what the caller says (helped sales by
    default). ``buyer_id`` (the ordering account, when known) feeds the work-unit totals. ``producer_id``
    credits the lines to that producer instead of the product's own (a charity item, counted under the
    hidden charity product, benefits the producer the sale names). Calling again
    with the same ``source``, even concurrently, returns the entries already written and counts nothing.
    """
    if channel not in CHANNELS:
        raise UnknownChannel(f"channel must be one of {', '.join(CHANNELS)}")
    _check_lines(lines)
    direct_purchase = direct_purchase or channel == "work_unit"
    day = clock.local_day(occurred_at)
    programme_id, facts = _sale_facts({line.variant_id for line in lines}, day, producer_id)
    rows = []
    for i, line in enumerate(lines, start=1):
        fact = facts[line.variant_id]
        rows.append(
            dict(
                programme_id=programme_id,
                source=source,
                source_key=f"{source}:line:{i}",
                occurred_at=occurred_at,
                day=day,
                channel=channel,
                category_id=fact.category_id,
                product_id=fact.product_id,
                variant_id=line.variant_id,
                producer_id=fact.producer_id,
                township=fact.township,
                location_id=line.location_id,
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                qualifying=fact.certificate_number is not None,
                certificate_number=fact.certificate_number,
                direct_purchase=direct_purchase,
                buyer_id=buyer_id,
            )
        )
    return _append(source, rows)


def _sale_facts(variant_ids: set[int], day: date, producer_id: int | None) -> tuple[int | None, dict]:
    """What the ledger needs of each sold variant on ``day``, in one query: its product, category and
    producer (``producer_id`` instead of the product's own when given), the producer's township, the
    number of the producer's certificate valid that day (the earliest-starting one, None when there is
    none), and the programme of the day. Raises BadSaleLine for an unknown variant or producer."""
    if not variant_ids:
        return None, {}
    cert = (
        select(AidCertificate.number)
        .where(
            AidCertificate.producer_id == Producer.id,
            AidCertificate.valid_from <= day,
            AidCertificate.valid_until >= day,
            AidCertificate.revoked.is_(False),
        )
        .order_by(AidCertificate.valid_from, AidCertificate.id)
        .limit(1)
        .correlate(Producer)
        .scalar_subquery()
    )
    programme = (
        select(AidProgramme.id)
        .where(AidProgramme.starts_on <= day, AidProgramme.ends_on >= day)
        .order_by(AidProgramme.starts_on.desc())
        .limit(1)
        .scalar_subquery()
    )
    credited = Product.producer_id if producer_id is None else producer_id
    rows = db.session.execute(
        select(
            Variant.id.label("variant_id"),
            Product.id.label("product_id"),
            Product.category_id,
            Producer.id.label("producer_id"),
            Producer.township,
            cert.label("certificate_number"),
            programme.label("programme_id"),
        )
        .join(Product, Product.id == Variant.product_id)
        .join(Producer, Producer.id == credited)
        .where(Variant.id.in_(sorted(variant_ids)))
    ).all()
    facts = {row.variant_id: row for row in rows}
    for variant_id in sorted(variant_ids - facts.keys()):
        if db.session.get(Variant, variant_id) is None:
            raise BadSaleLine(f"unknown variant {variant_id}")
        raise BadSaleLine(f"unknown producer {producer_id}")
    return (rows[0].programme_id if rows else None), facts


def _remaining(originals: list[AidEntry]) -> dict[int, tuple[int, int]]:
    """Amount and quantity of each original line not yet reversed by earlier refunds."""
    ids = [e.id for e in originals]
    reversed_ = dict(
        (rid, (amount, qty))
        for rid, amount, qty in db.session.execute(
            select(AidEntry.reverses_id, func.sum(AidEntry.amount_fen), func.sum(AidEntry.quantity))
            .where(AidEntry.reverses_id.in_(ids))
            .group_by(AidEntry.reverses_id)
        )
    )
    return {
        e.id: (
            e.amount_fen + int(reversed_.get(e.id, (0, 0))[0]),
            e.quantity + int(reversed_.get(e.id, (0, 0))[1]),
        )
        for e in originals
    }


def reverse_sale(
    *,
    source: str,
    original_source: str,
    occurred_at: datetime,
    lines: list[SaleLine],
) -> list[AidEntry]:
    """Write negative entries for refunded lines of ``original_source`` (full or partial refunds).

    A reversal keeps the original line's programme, channel, producer, qualifying and reported category
    (a refund takes back exactly what the sale counted) and is dated the day of the refund. Refunds of
    one line can never take back more than it counted, across any number of partial refunds (the
    original entries are locked while this is checked). A line may have quantity 0 (money back, goods
    kept). Idempotent per ``source`` like ``record_sale``.
    """
    _check_lines(lines, refund=True)
    done = _existing(source)
    if done:
        return done
    # Lock the counted lines so two concurrent partial refunds cannot both pass the "not more than
    # counted" check (a no-op on SQLite, where the write transaction already serialises them).
    originals = list(
        db.session.scalars(
            select(AidEntry)
            .where(AidEntry.source == original_source, AidEntry.reverses_id.is_(None))
            .order_by(AidEntry.id)
            .with_for_update()
        )
    )
    remaining = _remaining(originals)
    day = clock.local_day(occurred_at)
    rows = []
    for i, line in enumerate(lines, start=1):
        candidates = [e for e in originals if e.variant_id == line.variant_id]
        if not candidates:
            raise NothingToReverse(f"{original_source} has no counted line for variant {line.variant_id}")
        orig = next(
            (
                e
                for e in candidates
                if remaining[e.id][0] >= line.amount_fen and remaining[e.id][1] >= line.quantity
            ),
            None,
        )
        if orig is None:
            left = max(remaining[e.id][0] for e in candidates)
            raise RefundExceedsSale(
                f"{original_source}: variant {line.variant_id} has {left} fen left to reverse, "
                f"not {line.amount_fen}"
            )
        remaining[orig.id] = (remaining[orig.id][0] - line.amount_fen, remaining[orig.id][1] - line.quantity)
        rows.append(
            dict(
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
                quantity=-line.quantity,
                amount_fen=-line.amount_fen,
                qualifying=orig.qualifying,
                certificate_number=orig.certificate_number,
                direct_purchase=orig.direct_purchase,
                buyer_id=orig.buyer_id,
            )
        )
    return _append(source, rows)


def current_programme(on: date | None = None) -> AidProgramme | None:
    """Return the programme whose period contains ``on`` (today by default), else the latest one."""
    day = on or clock.today()
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


def compute_headline(programme: AidProgramme | None = None) -> dict | None:
    """Return the banner figures (counted total and progress) for ``programme`` or the current one."""
    prog = programme or current_programme()
    if prog is None:
        return None
    total = programme_total_fen(prog)
    return {
        "code": prog.code,
        "name_zh": prog.name_zh,
        "name_en": prog.name_en,
        "starts_on": prog.starts_on.isoformat(),
        "ends_on": prog.ends_on.isoformat(),
        "target_fen": prog.target_fen,
        "total_fen": total,
        "percent": round(100 * total / prog.target_fen, 2) if prog.target_fen else 0,
        "as_of": clock.now().isoformat(timespec="seconds"),
    }


def headline() -> dict | None:
    """Return the storefront banner figures for the current programme (cached; never raises on cache)."""
    return cache.cached(cache.HEADLINE_KEY, compute_headline)
