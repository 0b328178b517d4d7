"""Reconciliation: prove the rollups equal the ledger and the ledger matches its sources; report, never hide.

``reconcile()`` runs nightly (task ``shop.aid.reconcile``) and on demand (``flask aid reconcile``):

1. Rollups against the ledger: one SQL statement (so one snapshot on PostgreSQL, even while sales keep
   coming) returns every rollup row whose sums differ from the ledger's and every ledger group that
   has no rollup row.
2. Summaries plus pending entries against the ledger (``shop.aid.summaries.summary_differences``, one
   statement too): every per-dimension summary row must equal what the ledger holds for its programme,
   period and key, less the entries not folded yet.
3. The ledger against its sources: every registered source checker (``register_source_checker``) reports
   what differs between the entries of its sources and the source records. This module registers the
   checker for off-shop sales; the orders and counter-sale domains register theirs the same way.

Each run is recorded (``AidReconciliationRun``: when, what was checked, result, the first differences) for
the dashboard. Nothing is changed unless asked: ``repair=True`` rebuilds the rollups from the ledger (the
ledger is the truth) and the summaries from them, under table locks, and says so in the run and the log. The ledger itself is never
rewritten here; a source difference needs a person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, null, or_, select, text, union_all

from shop.aid import summaries
from shop.aid.models import (
    ROLLUP_DIMS,
    ROLLUP_SUMS,
    AidEntry,
    AidReconciliationRun,
    AidRollup,
    CharitySale,
    OffshopLine,
    OffshopSale,
)
from shop.audit.services import record as audit
from shop.core.db import atomic, db, in_unit_of_work, utcnow

log = logging.getLogger(__name__)

MAX_REPORTED = 200  # differences stored per run; the count is always complete


@dataclass(frozen=True)
class Difference:
    """One thing that does not add up: which check saw it, on what, and the two sides."""

    check: str
    key: str
    recorded: Any
    expected: Any
    detail: str = ""


SourceChecker = Callable[[], Iterable[Difference]]
_CHECKERS: dict[str, SourceChecker] = {}


def register_source_checker(name: str, checker: SourceChecker) -> None:
    """Add a check of ledger entries against one kind of source (orders, counter sales, refunds...).

    ``checker()`` runs inside the reconciliation's read transaction and yields a ``Difference`` for each
    source whose counted entries do not match it. Registering the same name again replaces the checker.
    """
    _CHECKERS[name] = checker


def source_checkers() -> dict[str, SourceChecker]:
    return dict(_CHECKERS)


def counted_by_source(prefix: str) -> dict[str, int]:
    """What the ledger counted for each source ``<prefix><id>`` (its positive entries, not reversals).

    ``prefix`` includes its separator (``"order:"``, ``"counter-sale:"``).
    """
    rows = db.session.execute(
        select(AidEntry.source, func.sum(AidEntry.amount_fen))
        .where(AidEntry.source.like(f"{prefix}%"), AidEntry.reverses_id.is_(None))
        .group_by(AidEntry.source)
    )
    return {source: int(total or 0) for source, total in rows}


def _ledger_groups():
    e = AidEntry
    cols = [getattr(e, d) for d in ROLLUP_DIMS if d != "location_id"]
    location = func.coalesce(e.location_id, 0)
    return (
        select(
            *[c.label(c.key) for c in cols],
            location.label("location_id"),
            func.sum(e.amount_fen).label("amount_fen"),
            func.sum(e.quantity).label("quantity"),
            func.count().label("entries"),
        )
        .where(e.programme_id.is_not(None))
        .group_by(*cols, location)
        .subquery("ledger")
    )


def rollup_differences(limit: int = MAX_REPORTED) -> tuple[list[Difference], int]:
    """Compare every rollup row with the ledger; return the first ``limit`` differences and their count."""
    ledger = _ledger_groups()
    r = AidRollup.__table__
    same_dims = and_(*(r.c[d] == ledger.c[d] for d in ROLLUP_DIMS))
    mismatch = or_(*(r.c[s] != ledger.c[s] for s in ROLLUP_SUMS))
    recorded_vs_ledger = (
        select(
            *(r.c[d].label(d) for d in ROLLUP_DIMS),
            *(r.c[s].label(f"rec_{s}") for s in ROLLUP_SUMS),
            *(ledger.c[s].label(f"led_{s}") for s in ROLLUP_SUMS),
        )
        .select_from(r.outerjoin(ledger, same_dims))
        .where(or_(ledger.c.entries.is_(None), mismatch))
    )
    missing = (
        select(
            *(ledger.c[d].label(d) for d in ROLLUP_DIMS),
            *(null().label(f"rec_{s}") for s in ROLLUP_SUMS),
            *(ledger.c[s].label(f"led_{s}") for s in ROLLUP_SUMS),
        )
        .select_from(ledger.outerjoin(r, same_dims))
        .where(r.c.id.is_(None))
    )
    both = union_all(recorded_vs_ledger, missing).subquery("diff")
    rows = db.session.execute(
        select(both, func.count().over().label("n")).order_by(both.c.programme_id, both.c.day).limit(limit)
    ).all()
    diffs = []
    for row in rows:
        m = row._mapping
        key = " ".join(f"{d}={m[d]}" for d in ROLLUP_DIMS)
        recorded = None if m["rec_entries"] is None else {s: int(m[f"rec_{s}"]) for s in ROLLUP_SUMS}
        expected = None if m["led_entries"] is None else {s: int(m[f"led_{s}"]) for s in ROLLUP_SUMS}
        detail = (
            "rollup row without ledger entries"
            if expected is None
            else (
                "ledger entries without a rollup row"
                if recorded is None
                else "rollup sums differ from the ledger"
            )
        )
        diffs.append(Difference("rollups", key, recorded, expected, detail))
    return diffs, (int(rows[0]._mapping["n"]) if rows else 0)


def rebuild_rollups() -> int:
    """Replace every rollup row by the ledger's sums; return the number of rows written.

    On PostgreSQL the rollup table is locked first, so sales committing meanwhile wait and then add to
    the rebuilt rows; their entries are either in the rebuild or add to it afterwards, never both.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE aid_rollup IN EXCLUSIVE MODE"))
    db.session.execute(delete(AidRollup))
    ledger = _ledger_groups()
    db.session.execute(
        insert(AidRollup).from_select(
            [*ROLLUP_DIMS, *ROLLUP_SUMS], select(*(ledger.c[c] for c in (*ROLLUP_DIMS, *ROLLUP_SUMS)))
        )
    )
    return int(db.session.scalar(select(func.count()).select_from(AidRollup)) or 0)


def summary_differences(limit: int = MAX_REPORTED) -> tuple[list[Difference], int]:
    """Compare the summaries plus the pending entries with the ledger; the first ``limit`` differences
    and their count."""
    rows, count = summaries.summary_differences(_ledger_groups(), limit)
    diffs = []
    for key, recorded, expected in rows:
        detail = (
            "summary row without entries"
            if expected is None
            else (
                "entries without a summary row" if recorded is None else "summary sums differ from the ledger"
            )
        )
        text_key = " ".join(f"{k}={v}" for k, v in key.items())
        diffs.append(Difference("summaries", text_key, recorded, expected, detail))
    return diffs, count


def _record(run_id: int, **values: Any) -> None:
    with atomic():
        run = db.session.get(AidReconciliationRun, run_id)
        for k, v in values.items():
            setattr(run, k, v)


def reconcile(*, repair: bool = False, trigger: str = "cli") -> AidReconciliationRun:
    """Check rollups and sources, record the run, and rebuild the rollups only if ``repair`` is asked.

    Runs its own transactions (call it outside ``atomic()``): the run row is committed first, so even a
    crash leaves a trace on the dashboard.
    """
    if in_unit_of_work():
        raise RuntimeError("reconcile() manages its own transactions; call it outside atomic()")
    with atomic():
        run = AidReconciliationRun(
            trigger=trigger[:40], repair=repair, status="running", checkers=[], differences=[]
        )
        db.session.add(run)
    run_id = run.id
    try:
        db.session.rollback()  # a fresh read transaction for the checks
        diffs, count = rollup_differences()
        sdiffs, scount = summary_differences()
        diffs = [*diffs, *sdiffs]
        names = ["rollups", "summaries"]
        source_diffs: list[Difference] = []
        for name, checker in sorted(_CHECKERS.items()):
            names.append(name)
            source_diffs.extend(checker())
        entries = int(db.session.scalar(select(func.count()).select_from(AidEntry)) or 0)
        rollups = int(db.session.scalar(select(func.count()).select_from(AidRollup)) or 0)
        db.session.rollback()
        status = "ok" if count == 0 and scount == 0 and not source_diffs else "drift"
        if repair and (count or scount):
            with atomic():
                # Sales and folds wait meanwhile; the summaries are rebuilt from rollups that equal
                # the ledger (rebuilt first when they did not).
                summaries.lock_for_rebuild()
                written = rebuild_rollups() if count else None
                summary_rows = summaries.rebuild_summaries()
                if written is not None:
                    audit(
                        None,
                        "aid.rollups_rebuilt",
                        target_type="aid_reconciliation_run",
                        target_id=run_id,
                        differences=count,
                        rows=written,
                        trigger=trigger,
                    )
                audit(
                    None,
                    "aid.summaries_rebuilt",
                    target_type="aid_reconciliation_run",
                    target_id=run_id,
                    differences=scount,
                    rows=summary_rows,
                    trigger=trigger,
                )
            if written is not None:
                log.warning(
                    "aid reconciliation run %s: rebuilt %s rollup rows from the ledger (%s differences)",
                    run_id,
                    written,
                    count,
                )
            log.warning(
                "aid reconciliation run %s: rebuilt %s summary rows from the rollups (%s differences)",
                run_id,
                summary_rows,
                scount,
            )
            _, left = rollup_differences()
            _, sleft = summary_differences()
            if left == 0 and sleft == 0 and not source_diffs:
                status = "repaired"
        for d in [*diffs, *source_diffs]:
            log.error("aid reconciliation run %s: %s %s recorded=%s expected=%s %s",
                      run_id, d.check, d.key, d.recorded, d.expected, d.detail)  # fmt: skip
        _record(
            run_id,
            finished_at=utcnow(),
            status=status,
            entries_checked=entries,
            rollups_checked=rollups,
            checkers=names,
            difference_count=count + scount + len(source_diffs),
            differences=[asdict(d) for d in [*diffs, *source_diffs][:MAX_REPORTED]],
        )
    except Exception as exc:
        db.session.rollback()
        log.exception("aid reconciliation run %s failed", run_id)
        _record(run_id, finished_at=utcnow(), status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    db.session.expire_all()
    return db.session.get(AidReconciliationRun, run_id)


def check_offshop_sales() -> Iterable[Difference]:
    """Off-shop sales against their ledger entries.

    Approved: entries of ``offline-sale:<id>`` sum to the sale's amount. Voided: those entries plus the
    reversal ``offline-void:<id>`` sum to zero. Pending or rejected: no entries at all. And no entry
    claims an off-shop source that does not exist. A sale's amount equals the sum of its lines.
    """
    e = AidEntry
    ledger = {
        source: int(amount)
        for source, amount in db.session.execute(
            select(e.source, func.sum(e.amount_fen))
            .where(or_(e.source.like("offline-sale:%"), e.source.like("offline-void:%")))
            .group_by(e.source)
        )
    }
    lines = dict(
        db.session.execute(
            select(OffshopLine.sale_id, func.sum(OffshopLine.amount_fen)).group_by(OffshopLine.sale_id)
        ).all()
    )
    seen = set()
    for sale_id, status, amount in db.session.execute(
        select(OffshopSale.id, OffshopSale.status, OffshopSale.amount_fen).order_by(OffshopSale.id)
    ):
        sale_src, void_src = f"offline-sale:{sale_id}", f"offline-void:{sale_id}"
        seen.update((sale_src, void_src))
        if int(lines.get(sale_id) or 0) != amount:
            yield Difference(
                "offshop", sale_src, amount, int(lines.get(sale_id) or 0), "amount differs from its lines"
            )
        want_sale = amount if status in ("approved", "voided") else 0
        want_void = -amount if status == "voided" else 0
        if ledger.get(sale_src, 0) != want_sale:
            yield Difference(
                "offshop", sale_src, ledger.get(sale_src, 0), want_sale, f"{status} sale counted wrongly"
            )
        if ledger.get(void_src, 0) != want_void:
            yield Difference(
                "offshop", void_src, ledger.get(void_src, 0), want_void, f"{status} sale reversed wrongly"
            )
    for source in sorted(set(ledger) - seen):
        yield Difference(
            "offshop", source, ledger[source], None, "entries for an off-shop sale that does not exist"
        )


register_source_checker("offshop", check_offshop_sales)


def check_charity_sales() -> Iterable[Difference]:
    """Charity sales against their ledger entries: approved ``charity-sale:<id>`` sums to the goods part
    (amount - donated); voided, with ``charity-void:<id>``, to zero; pending or rejected: nothing. No entry
    claims a charity sale that does not exist. Donations never reach the ledger."""
    e = AidEntry
    ledger = {
        source: int(amount)
        for source, amount in db.session.execute(
            select(e.source, func.sum(e.amount_fen))
            .where(or_(e.source.like("charity-sale:%"), e.source.like("charity-void:%")))
            .group_by(e.source)
        )
    }
    seen = set()
    for sale_id, status, amount, donated in db.session.execute(
        select(CharitySale.id, CharitySale.status, CharitySale.amount_fen, CharitySale.donated_fen).order_by(
            CharitySale.id
        )
    ):
        sale_src, void_src = f"charity-sale:{sale_id}", f"charity-void:{sale_id}"
        seen.update((sale_src, void_src))
        goods = amount - donated
        want_sale = goods if status in ("approved", "voided") else 0
        want_void = -goods if status == "voided" else 0
        if ledger.get(sale_src, 0) != want_sale:
            yield Difference(
                "charity", sale_src, ledger.get(sale_src, 0), want_sale, f"{status} sale counted wrongly"
            )
        if ledger.get(void_src, 0) != want_void:
            yield Difference(
                "charity", void_src, ledger.get(void_src, 0), want_void, f"{status} sale reversed wrongly"
            )
    for source in sorted(set(ledger) - seen):
        yield Difference(
            "charity", source, ledger[source], None, "entries for a charity sale that does not exist"
        )


register_source_checker("charity", check_charity_sales)
