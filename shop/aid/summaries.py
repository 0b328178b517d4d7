"""Per-dimension aid totals (``aid_summary``): kept off the sale's path, folded in by a worker, read exactly.

- A sale's transaction writes its ledger entries (and their day-grain rollups) as before; a trigger on
  ``aid_entry`` (created by migration 0024, on PostgreSQL and SQLite alike) adds each new entry's id to
  ``aid_unfolded`` in the same transaction, without a statement more from the shop.
- ``fold()`` (task ``shop.aid.fold``, every ``AID_FOLD_SECONDS``) takes a batch of pending ids (on
  PostgreSQL ``FOR UPDATE SKIP LOCKED``, so several workers fold different entries at once), adds their
  entries to the summaries with one ``INSERT .. SELECT .. GROUP BY .. ON CONFLICT DO UPDATE`` and deletes
  the ids, in one transaction: an entry is either pending or folded, never both, never neither.
- ``read_totals()`` sums, in one statement (one snapshot), the month rows of the whole months of a range,
  the day rows of its partial months, and the entries still pending.
- The reconciliation compares summaries + pending with the ledger (``summary_differences``) and its
  repair rebuilds the summaries (``rebuild_summaries``) under table locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import (
    Date,
    DateTime,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)

from shop.aid.models import (
    ROLLUP_DIMS,
    SUMMARY_DIMS,
    SUMMARY_GRAINS,
    SUMMARY_KEY,
    AidEntry,
    AidRollup,
    AidSummary,
    AidUnfolded,
)
from shop.aid.upserts import adding_upsert
from shop.core.db import atomic, db

log = logging.getLogger(__name__)

SUMS = ("amount_fen", "quantity", "entries")
FOLD_BATCH = 5000
# The ledger column each dimension's key comes from (``all`` has the single key "").
DIM_COLUMNS = {
    "channel": "channel",
    "category": "category_id",
    "product": "product_id",
    "producer": "producer_id",
    "township": "township",
    "location": "location_id",
}
INT_DIMS = frozenset({"category", "product", "producer", "location"})


def _pg() -> bool:
    return db.engine.dialect.name == "postgresql"


def month_start(col):
    """The first day of ``col``'s month, as a date."""
    if _pg():
        return cast(func.date_trunc(_const("month"), cast(col, DateTime)), Date)
    return func.date(col, _const("start of month"))


def month_label(col):
    """``YYYY-MM`` of a date column."""
    if _pg():
        return func.to_char(col, _const("YYYY-MM"))
    return func.strftime(_const("%Y-%m"), col)


def _const(value: str):
    return literal_column(f"'{value}'", String)


def expand(source, *, grains=SUMMARY_GRAINS, sign: int = 1):
    """The summary rows of ``source`` (a subquery with the rollup's columns, ``location_id`` 0 for no
    location, and the sums ``amount_fen``, ``quantity``, ``entries``): one grouped select per grain and
    dimension, combined with ``UNION ALL`` (each branch has a different grain or dimension, so no key
    appears twice). ``sign`` -1 negates the sums."""
    c = source.c
    branches = []
    for grain in grains:
        period = c.day if grain == "day" else month_start(c.day)
        for dim in SUMMARY_DIMS:
            if dim == "all":
                key = _const("")
                keyed = []
            else:
                col = c[DIM_COLUMNS[dim]]
                key = cast(col, String) if dim in INT_DIMS else col
                keyed = [key]
            branches.append(
                select(
                    c.programme_id.label("programme_id"),
                    _const(grain).label("grain"),
                    period.label("period"),
                    _const(dim).label("dimension"),
                    key.label("key"),
                    c.qualifying.label("qualifying"),
                    c.direct_purchase.label("direct_purchase"),
                    *((func.sum(c[s]) if sign == 1 else -func.sum(c[s])).label(s) for s in SUMS),
                ).group_by(c.programme_id, period, *keyed, c.qualifying, c.direct_purchase)
            )
    return union_all(*branches)


def _entries_source(*where, pending: bool = False):
    """Ledger entries as rollup-shaped rows (one entry each); ``pending``: only those in ``aid_unfolded``
    (read from it: it is small, the ledger is not)."""
    e = AidEntry
    stmt = select(
        e.programme_id,
        e.day,
        e.channel,
        e.category_id,
        e.product_id,
        e.producer_id,
        e.township,
        func.coalesce(e.location_id, 0).label("location_id"),
        e.qualifying,
        e.direct_purchase,
        e.amount_fen,
        e.quantity,
        literal_column("1").label("entries"),
    ).where(e.programme_id.is_not(None), *where)
    if pending:
        stmt = stmt.select_from(AidUnfolded).join(e, e.id == AidUnfolded.entry_id)
    return stmt.subquery("src")


def _pending_source(*where):
    """The entries still pending (in ``aid_unfolded``), as rollup-shaped rows."""
    return _entries_source(*where, pending=True)


def _upsert(rows_select) -> None:
    """Add ``rows_select`` (summary keys and sums) to the summary rows: ``INSERT .. SELECT .. ORDER BY
    <key> ON CONFLICT DO UPDATE``. Every writer takes the rows in key order, so two folds sharing rows
    wait for each other instead of deadlocking."""
    rows = rows_select.subquery("rows")
    ordered = select(*(rows.c[k] for k in (*SUMMARY_KEY, *SUMS))).order_by(*(rows.c[k] for k in SUMMARY_KEY))
    db.session.execute(adding_upsert(AidSummary.__table__, SUMMARY_KEY, SUMS, select=ordered))


def _delete_folded(ids: list[int]) -> None:
    db.session.execute(delete(AidUnfolded).where(AidUnfolded.entry_id.in_(ids)))


def fold_batch(batch: int = FOLD_BATCH) -> int:
    """Fold one batch of pending entries into the summaries, in one transaction; return how many.

    On PostgreSQL the batch is taken with ``FOR UPDATE SKIP LOCKED``: a concurrent fold skips the ids
    this one holds and takes others, and when this one commits they are gone. If anything fails, the
    whole transaction rolls back and the entries stay pending for the next fold.
    """
    with atomic():
        ids = list(
            db.session.scalars(
                select(AidUnfolded.entry_id)
                .order_by(AidUnfolded.entry_id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return 0
        _upsert(expand(_entries_source(AidEntry.id.in_(ids))))
        _delete_folded(ids)
    return len(ids)


def fold(batch: int = FOLD_BATCH, max_batches: int = 100) -> int:
    """Fold pending entries batch by batch until none are left (or ``max_batches``); return how many."""
    total = 0
    for _ in range(max_batches):
        n = fold_batch(batch)
        total += n
        if n < batch:
            break
    return total


def pending_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AidUnfolded)) or 0)


# -- reading ---------------------------------------------------------------------------------------


def split_range(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole months of ``start..end`` (first and last month's first days) and the partial months'
    day ranges (at most two)."""
    whole: list[date] = []
    partial: list[tuple[date, date]] = []
    first = start.replace(day=1)
    while first <= end:
        nxt = (first + timedelta(days=32)).replace(day=1)
        last = nxt - timedelta(days=1)
        lo, hi = max(first, start), min(last, end)
        if lo == first and hi == last:
            whole.append(first)
        else:
            partial.append((lo, hi))
        first = nxt
    return ((whole[0], whole[-1]) if whole else None), partial


def read_totals(programme_id: int, start: date, end: date) -> list[tuple]:
    """The programme's sums in ``start..end`` (inclusive), in one statement, so one snapshot:
    ``(dimension, key, month, qualifying, direct_purchase, amount_fen)`` rows, ``month`` (``YYYY-MM``)
    only on ``all`` rows ("" elsewhere). Reads the month rows of whole months, the day rows of partial
    months and the pending entries of the range; the int dimensions' keys come back as text."""
    s = AidSummary
    whole, partial = split_range(start, end)
    periods = []
    if whole is not None:
        periods.append(and_(s.grain == "month", s.period >= whole[0], s.period <= whole[1]))
    for lo, hi in partial:
        periods.append(and_(s.grain == "day", s.period >= lo, s.period <= hi))
    folded = select(
        s.dimension, s.key, s.period, s.qualifying, s.direct_purchase, s.amount_fen.label("amount_fen")
    ).where(s.programme_id == programme_id, or_(*periods))
    # The pending entries are read once (a CTE, which PostgreSQL materializes when it is used more than
    # once) and expanded per dimension from there: as a subquery, each of the seven branches joined the
    # queue to the ledger again, and on a large ledger the planner sent those joins to parallel workers,
    # two processes started per call.
    entries = _pending_source(
        AidEntry.programme_id == programme_id, AidEntry.day >= start, AidEntry.day <= end
    ).element.cte("pending_entries")
    pending = expand(entries, grains=("day",)).subquery("pending")
    from_pending = select(
        pending.c.dimension,
        pending.c.key,
        pending.c.period,
        pending.c.qualifying,
        pending.c.direct_purchase,
        pending.c.amount_fen,
    )
    both = union_all(folded, from_pending).subquery("both")
    month = case((both.c.dimension == "all", month_label(both.c.period)), else_=_const(""))
    cols = (both.c.dimension, both.c.key, month, both.c.qualifying, both.c.direct_purchase)
    return [tuple(r) for r in db.session.execute(select(*cols, func.sum(both.c.amount_fen)).group_by(*cols))]


# -- reconciliation --------------------------------------------------------------------------------


def summary_differences(ledger, limit: int = 200) -> tuple[list, int]:
    """Compare every summary row with what the ledger says less the entries still pending, in one
    statement (one snapshot: the pending ids are written in the same transactions as the entries they
    list). ``ledger`` is the ledger grouped by the rollup key (``reconcile._ledger_groups()``), so a
    wrong rollup row does not show here too. Returns ``(rows, count)``; each row is the key, the
    recorded sums (``None`` when there is no summary row) and the expected ones (``None`` when there
    should be no row)."""
    s = AidSummary.__table__
    recorded = select(
        *(s.c[k] for k in SUMMARY_KEY), literal_column("1").label("side"), *(s.c[x] for x in SUMS)
    )
    expected = expand(ledger).subquery("expected")
    pending = expand(_pending_source(), sign=-1).subquery("pend")

    def side2(q):
        return select(
            *(q.c[k] for k in SUMMARY_KEY), literal_column("2").label("side"), *(q.c[x] for x in SUMS)
        )

    both = union_all(recorded, side2(expected), side2(pending)).subquery("both")
    keys = [both.c[k] for k in SUMMARY_KEY]

    def on(side: int, col: str):
        return func.sum(case((both.c.side == side, both.c[col]), else_=0))

    def has(side: int):
        return func.sum(case((both.c.side == side, 1), else_=0))

    rec = [on(1, x).label(f"rec_{x}") for x in SUMS]
    exp = [on(2, x).label(f"exp_{x}") for x in SUMS]
    grouped = (
        select(*keys, *rec, *exp, has(1).label("rec_rows"))
        .group_by(*keys)
        .having(or_(*(on(1, x) != on(2, x) for x in SUMS)))
        .subquery("diff")
    )
    rows = db.session.execute(
        select(grouped, func.count().over().label("n"))
        .order_by(
            grouped.c.programme_id, grouped.c.grain, grouped.c.period, grouped.c.dimension, grouped.c.key
        )
        .limit(limit)
    ).all()
    out = []
    for row in rows:
        m = row._mapping
        recorded_sums = {x: int(m[f"rec_{x}"]) for x in SUMS} if m["rec_rows"] else None
        expected_sums = {x: int(m[f"exp_{x}"]) for x in SUMS}
        if expected_sums["entries"] == 0 and not any(expected_sums.values()):
            expected_sums = None
        out.append(({k: m[k] for k in SUMMARY_KEY}, recorded_sums, expected_sums))
    return out, (int(rows[0]._mapping["n"]) if rows else 0)


def lock_for_rebuild() -> None:
    """Take the aid tables a rebuild rewrites, in the order a sale takes them (its entry's trigger
    writes ``aid_unfolded`` before it adds to ``aid_rollup``), so a sale waits instead of deadlocking;
    folds wait too. Plain reads (the totals) go on with what was committed before. SQLite's write
    transaction already excludes every other writer."""
    if _pg():
        db.session.execute(text("LOCK TABLE aid_unfolded, aid_rollup, aid_summary IN EXCLUSIVE MODE"))


def rebuild_summaries() -> int:
    """Replace every summary row by the rollups' sums and empty ``aid_unfolded`` (everything the rollups
    hold is then folded); return the rows written. Call inside a transaction after
    ``lock_for_rebuild()``, with rollups that equal the ledger (the reconciliation checks or rebuilds
    them first, in the same transaction)."""
    lock_for_rebuild()
    db.session.execute(delete(AidUnfolded))
    db.session.execute(delete(AidSummary))
    rollups = AidRollup.__table__
    src = select(*(rollups.c[k] for k in (*ROLLUP_DIMS, *SUMS))).subquery("rollup_src")
    _upsert(expand(src))
    return int(db.session.scalar(select(func.count()).select_from(AidSummary)) or 0)


def int_key(dimension: str) -> Callable[[str], object]:
    """How a summary key of ``dimension`` reads back (ids are stored as text)."""
    return int if dimension in INT_DIMS else str
