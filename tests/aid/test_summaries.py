"""Per-dimension summaries: the totals read from them (plus the entries not folded yet) are the totals the
day-grain rollups give, for any range and any mix of folded and pending entries; folds running at once
count nothing twice; a fold that fails leaves its entries pending; the reconciliation finds a wrong
summary row and its repair rebuilds them."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from shop.aid import reconcile as rec
from shop.aid import summaries
from shop.aid.errors import RefundExceedsSale
from shop.aid.models import CHANNELS, AidEntry, AidSummary, AidUnfolded
from shop.aid.reports import programme_totals, resolve_range
from shop.core import clock
from shop.core.db import db
from tests.aid.helpers import programme, refund, sell

SKUS = ["APL-HN-5KG", "CHL-LINE-500G", "PEP-PWD-100G", "VEG-HL-10KG", "SHOE-HEMP-40", "CHL-OIL-250G"]
PLACES = [None, "DL-HM", "DL-WX", "FAIR-TJ"]
YEAR = clock.today().year
START = date(YEAR, 1, 1)
_ids = itertools.count(1)

sale_st = st.fixed_dictionaries(
    {
        "kind": st.just("sale"),
        "lines": st.lists(
            st.tuples(st.sampled_from(SKUS), st.integers(1, 5), st.integers(0, 50_000)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ),
        "channel": st.sampled_from(CHANNELS),
        # Mostly around month ends, so partial months and whole months both have sales.
        "day": st.one_of(st.integers(0, 364), st.sampled_from([0, 30, 31, 58, 59, 89, 90, 180, 181, 364])),
        "place": st.sampled_from(PLACES),
        "direct": st.booleans(),
    }
)
refund_st = st.fixed_dictionaries(
    {
        "kind": st.just("refund"),
        "pick": st.integers(0, 10_000),
        "fraction": st.sampled_from([0.5, 1.0, 1.5]),
        "day": st.integers(0, 364),
    }
)
fold_st = st.fixed_dictionaries({"kind": st.just("fold"), "batch": st.integers(1, 7)})
range_st = st.tuples(st.integers(0, 364), st.integers(0, 364)).map(lambda t: (min(t), max(t)))


def _answer(prog, rng, source: str) -> dict:
    out = programme_totals(prog, rng, source=source)
    out.pop("as_of")
    return out


def _compare(ranges) -> None:
    prog = programme()
    for lo, hi in [(None, None), *ranges]:
        rng = resolve_range(
            prog,
            None if lo is None else START + timedelta(days=lo),
            None if hi is None else START + timedelta(days=hi),
        )
        assert _answer(prog, rng, "summaries") == _answer(prog, rng, "rollups"), (lo, hi)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(st.one_of(sale_st, sale_st, refund_st, fold_st), min_size=1, max_size=10),
    ranges=st.lists(range_st, min_size=1, max_size=4),
)
def test_totals_from_summaries_equal_totals_from_rollups(seeded, ops, ranges):
    sales: list[tuple[str, list]] = []
    for op in ops:
        if op["kind"] == "fold":
            summaries.fold_batch(op["batch"])
            continue
        day = START + timedelta(days=op["day"])
        if op["kind"] == "sale":
            source = f"order:{next(_ids)}"
            sell(source, day, op["channel"], *op["lines"], direct=op["direct"], at=op["place"])
            sales.append((source, op["lines"]))
        elif sales:
            source, lines = sales[op["pick"] % len(sales)]
            sku, _qty, amount = lines[0]
            # A refund (negative entries) on any day of the year, partial or whole.
            with contextlib.suppress(RefundExceedsSale):
                refund(f"refund:{next(_ids)}", source, day, (sku, 1, int(amount * op["fraction"])))
    db.session.rollback()
    _compare(ranges)  # a mix of folded and pending entries
    summaries.fold()
    assert summaries.pending_count() == 0
    _compare(ranges)  # everything folded
    assert rec.summary_differences() == ([], 0)


def test_every_new_entry_is_pending_until_folded(seeded):
    db.session.rollback()
    before = summaries.pending_count()
    entries = sell(
        "order:pending-1",
        START + timedelta(days=40),
        "online",
        ("APL-HN-5KG", 2, 300),
        ("PEP-PWD-100G", 1, 50),
    )
    db.session.rollback()
    pending = set(db.session.scalars(select(AidUnfolded.entry_id)))
    assert {e.id for e in entries} <= pending and summaries.pending_count() == before + 2
    # A redelivered sale inserts nothing and lists nothing.
    sell(
        "order:pending-1",
        START + timedelta(days=40),
        "online",
        ("APL-HN-5KG", 2, 300),
        ("PEP-PWD-100G", 1, 50),
    )
    db.session.rollback()
    assert summaries.pending_count() == before + 2
    summaries.fold()
    assert summaries.pending_count() == 0
    assert rec.summary_differences() == ([], 0)


def test_the_totals_read_the_pending_entries_once(seeded):
    """The seven dimensions of the pending entries come from one read of the queue joined to the ledger
    (as seven joins, the planner sent them to parallel workers on a large ledger), whatever the plan."""
    prog = programme()

    def overall() -> int:
        return sum(r[5] for r in summaries.read_totals(prog.id, START, clock.today()) if r[0] == "all")

    before = overall()
    sell("order:once-1", START + timedelta(days=3), "online", ("APL-HN-5KG", 1, 100))
    db.session.rollback()
    statements: list[str] = []
    real = db.session.execute

    def capture(stmt, *args, **kwargs):
        statements.append(str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True})))
        return real(stmt, *args, **kwargs)

    db.session.execute = capture
    try:
        assert overall() == before + 100  # the new entry is pending, and counted
    finally:
        del db.session.execute
    plan = "\n".join(r[0] for r in db.session.execute(text("EXPLAIN " + statements[-1])))
    assert plan.count(" on aid_unfolded") == 1, plan  # one scan of the queue
    assert "Gather" not in plan, plan


def test_fold_on_sqlite_too(known_any):
    db.session.rollback()
    assert summaries.pending_count() > 0  # the seed's and the known set's sales
    prog = programme()
    rng = resolve_range(prog, None, None)
    want = _answer(prog, rng, "rollups")
    assert _answer(prog, rng, "summaries") == want
    summaries.fold(batch=3)
    assert summaries.pending_count() == 0
    assert _answer(prog, rng, "summaries") == want
    assert rec.reconcile(trigger="test").status == "ok"


class Boom(Exception):
    pass


def test_a_fold_that_fails_mid_batch_leaves_its_entries_pending(seeded, monkeypatch):
    for n in range(4):
        sell(f"order:crash-{n}", START + timedelta(days=10 * n), "hall", ("APL-HN-5KG", 1, 100 + n))
    db.session.rollback()
    summaries.fold()
    for n in range(4, 9):
        sell(f"order:crash-{n}", START + timedelta(days=10 * n), "hall", ("APL-HN-5KG", 1, 100 + n))
    db.session.rollback()
    pending = set(db.session.scalars(select(AidUnfolded.entry_id)))
    folded_before = {
        tuple(r) for r in db.session.execute(select(AidSummary.id, AidSummary.amount_fen, AidSummary.entries))
    }
    db.session.rollback()

    def fail(ids):  # the summaries are written, the ids not deleted yet: the worst moment to die
        raise Boom(f"killed with {len(ids)} ids")

    monkeypatch.setattr(summaries, "_delete_folded", fail)
    with pytest.raises(Boom):
        summaries.fold_batch(3)
    monkeypatch.undo()
    db.session.rollback()
    assert set(db.session.scalars(select(AidUnfolded.entry_id))) == pending
    now = {
        tuple(r) for r in db.session.execute(select(AidSummary.id, AidSummary.amount_fen, AidSummary.entries))
    }
    assert now == folded_before
    assert rec.summary_differences() == ([], 0)
    assert summaries.fold() == len(pending)
    assert rec.summary_differences() == ([], 0)


def _ledger_by_key() -> dict:
    """The ledger's sums per summary key, computed here in Python."""
    out: dict = defaultdict(lambda: [0, 0, 0])
    for e in db.session.scalars(select(AidEntry).where(AidEntry.programme_id.is_not(None))):
        keys = {
            "all": "",
            "channel": e.channel,
            "category": str(e.category_id),
            "product": str(e.product_id),
            "producer": str(e.producer_id),
            "township": e.township,
            "location": str(e.location_id or 0),
        }
        for grain, period in (("month", e.day.replace(day=1)), ("day", e.day)):
            for dim, key in keys.items():
                acc = out[(e.programme_id, grain, period, dim, key, e.qualifying, e.direct_purchase)]
                acc[0] += e.amount_fen
                acc[1] += e.quantity
                acc[2] += 1
    return {k: tuple(v) for k, v in out.items()}


def _summaries_by_key() -> dict:
    return {
        (r.programme_id, r.grain, r.period, r.dimension, r.key, r.qualifying, r.direct_purchase): (
            r.amount_fen,
            r.quantity,
            r.entries,
        )
        for r in db.session.scalars(select(AidSummary))
    }


def test_concurrent_folds_while_sales_commit_count_every_entry_once(seeded):
    """Two folders with their own connections fold in a loop while two sellers record sales; at the end
    the summaries equal the ledger (computed in Python), and no entry was folded twice."""
    app = seeded
    db.session.rollback()
    summaries.fold()
    db.session.remove()
    stop = threading.Event()
    errors: list[BaseException] = []
    folded: list[int] = []

    def seller(n: int) -> None:
        try:
            with app.app_context():
                for i in range(25):
                    day = START + timedelta(days=(i * 7 + n) % 300)
                    sell(
                        f"order:conc-{n}-{i}",
                        day,
                        CHANNELS[i % len(CHANNELS)],
                        (SKUS[i % len(SKUS)], 1, 100 + i),
                        (SKUS[(i + 1) % len(SKUS)], 2, 7 * i),
                        direct=bool(i % 2),
                        at=PLACES[i % len(PLACES)],
                    )
                db.session.remove()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def folder() -> None:
        try:
            with app.app_context():
                while not stop.is_set():
                    folded.append(summaries.fold_batch(4))
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    folders = [threading.Thread(target=folder) for _ in range(2)]
    sellers = [threading.Thread(target=seller, args=(n,)) for n in range(2)]
    for t in folders + sellers:
        t.start()
    for t in sellers:
        t.join()
    stop.set()
    for t in folders:
        t.join()
    assert errors == []
    with app.app_context():
        summaries.fold()
        db.session.rollback()
        assert summaries.pending_count() == 0
        new_entries = db.session.scalar(
            select(func.count()).select_from(AidEntry).where(AidEntry.source.like("order:conc-%"))
        )
        assert new_entries == 100
        assert sum(folded) <= 100  # the folders folded only new entries, each at most once...
        assert _summaries_by_key() == _ledger_by_key()  # ...and every entry exactly once overall
        assert rec.summary_differences() == ([], 0)


def test_reconcile_finds_a_wrong_summary_row_and_repair_rebuilds_them(known_set):
    db.session.rollback()
    summaries.fold()
    row = db.session.scalar(
        select(AidSummary).where(AidSummary.grain == "month", AidSummary.dimension == "channel").limit(1)
    )
    db.session.execute(
        update(AidSummary).where(AidSummary.id == row.id).values(amount_fen=row.amount_fen + 1)
    )
    db.session.execute(text("DELETE FROM aid_summary WHERE grain = 'day' AND dimension = 'product'"))
    db.session.commit()
    run = rec.reconcile(trigger="test")
    assert run.status == "drift" and "summaries" in run.checkers
    found = [d for d in run.differences if d["check"] == "summaries"]
    assert any(
        d["key"].endswith(f"key={row.key} qualifying={row.qualifying} direct_purchase={row.direct_purchase}")
        and "grain=month" in d["key"]
        and d["recorded"]["amount_fen"] == d["expected"]["amount_fen"] + 1
        for d in found
    )
    assert any(d["recorded"] is None and "dimension=product" in d["key"] for d in found)
    assert all(d["check"] == "summaries" for d in run.differences)  # the rollups are fine
    repaired = rec.reconcile(repair=True, trigger="test")
    assert repaired.status == "repaired"
    assert rec.reconcile(trigger="test").status == "ok"
    assert _summaries_by_key() == _ledger_by_key()
    assert summaries.pending_count() == 0
