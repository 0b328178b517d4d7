"""Reconciliation finds tampered rollups and broken sources, records every run, and changes nothing unasked."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from shop.aid import reconcile as rec
from shop.aid.models import AidReconciliationRun, AidRollup
from shop.core.db import atomic, db
from tests.aid.helpers import ledger_sum, rollup_sum


def _rollups() -> list[tuple]:
    db.session.expire_all()
    return sorted((r.id, r.amount_fen, r.quantity, r.entries) for r in db.session.scalars(select(AidRollup)))


def test_clean_ledger_reconciles(known_set):
    run = rec.reconcile(trigger="test")
    assert run.status == "ok" and run.difference_count == 0 and run.differences == []
    assert run.entries_checked == 6 and run.rollups_checked > 0
    assert run.checkers[0] == "rollups" and run.finished_at is not None  # the ledger's own check first
    assert sorted(run.checkers) == [
        "charity",
        "offshop",
        "partner_imports",
        "rollups",
        "settlement",
        "summaries",
    ]


def test_tampered_rollup_is_reported_and_left_as_it_is(known_set):
    with atomic():  # someone edits a total behind the ledger's back
        db.session.execute(text("UPDATE aid_rollup SET amount_fen = amount_fen + 100 WHERE id = 1"))
    before = _rollups()
    run = rec.reconcile(trigger="test")
    assert run.status == "drift" and run.difference_count == 1
    (diff,) = run.differences
    assert diff["check"] == "rollups" and diff["detail"] == "rollup sums differ from the ledger"
    assert diff["recorded"]["amount_fen"] == diff["expected"]["amount_fen"] + 100
    assert _rollups() == before  # reported, not silently overwritten
    assert rollup_sum() == ledger_sum() + 100


def test_missing_and_orphan_rollup_rows_are_reported(known_set):
    with atomic():
        db.session.execute(text("DELETE FROM aid_rollup WHERE id = 2"))
        db.session.execute(
            text(
                "INSERT INTO aid_rollup (programme_id, day, channel, category_id, product_id, producer_id, township,"
                " location_id, qualifying, direct_purchase, amount_fen, quantity, entries)"
                " VALUES (1, '2001-01-01', 'online', 1, 1, 1, 'x', 0, true, false, 5, 1, 1)"
            )
        )
    run = rec.reconcile(trigger="test")
    assert run.status == "drift" and run.difference_count == 2
    assert sorted(d["detail"] for d in run.differences) == [
        "ledger entries without a rollup row",
        "rollup row without ledger entries",
    ]


def test_repair_rebuilds_rollups_from_the_ledger_and_says_so(known_set, caplog):
    with atomic():
        db.session.execute(text("UPDATE aid_rollup SET amount_fen = 0, entries = 7"))
    run = rec.reconcile(repair=True, trigger="test")
    assert run.status == "repaired" and run.repair is True and run.difference_count > 0
    assert "rebuilt" in caplog.text
    assert rollup_sum() == ledger_sum() == 121300
    assert rec.reconcile(trigger="test").status == "ok"


def test_cli_reports_differences_and_exits_non_zero(app, known_set):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["aid", "reconcile"])
    assert r.exit_code == 0 and "ok" in r.output, r.output
    with atomic():
        db.session.execute(text("UPDATE aid_rollup SET quantity = quantity - 1 WHERE id = 1"))
    r = runner.invoke(args=["aid", "reconcile"])
    assert r.exit_code == 1 and "DIFF [rollups]" in r.output and "drift" in r.output
    r = runner.invoke(args=["aid", "reconcile", "--repair"])
    assert r.exit_code == 0 and "rebuilt" in r.output
    assert runner.invoke(args=["aid", "reconcile"]).exit_code == 0
    runs = db.session.scalars(select(AidReconciliationRun).order_by(AidReconciliationRun.id)).all()
    assert [(r.trigger, r.status) for r in runs] == [
        ("cli", "ok"),
        ("cli", "drift"),
        ("cli", "repaired"),
        ("cli", "ok"),
    ]


def test_offshop_checker_finds_a_sale_approved_without_entries(officers):
    from shop.accounts.services import find_user_by_email
    from shop.aid.offshop import OffshopLineInput, record_offshop_sale
    from tests.aid.test_offshop import DAY

    with atomic():
        sale_id = record_offshop_sale(
            find_user_by_email(officers[0]),
            channel="fair",
            evidence_kind="receipt",
            evidence_number="R-1",
            sold_on=DAY,
            lines=[OffshopLineInput("CHL-LINE-500G", 1, 2800)],
        ).id
    assert rec.reconcile(trigger="test").status == "ok"
    with atomic():  # approved by editing the table, bypassing approval: nothing was counted
        db.session.execute(text(f"UPDATE aid_offshop_sale SET status = 'approved' WHERE id = {sale_id}"))
    run = rec.reconcile(trigger="test")
    assert run.status == "drift"
    assert [(d["check"], d["key"], d["recorded"], d["expected"]) for d in run.differences] == [
        ("offshop", f"offline-sale:{sale_id}", 0, 2800)
    ]


def test_more_source_checkers_can_be_registered(seeded):
    def orders_checker():
        yield rec.Difference("orders", "order:7", 6800, 0, "order cancelled before payment but counted")

    rec.register_source_checker("orders", orders_checker)
    try:
        run = rec.reconcile(trigger="test")
    finally:
        rec._CHECKERS.pop("orders")
    assert run.status == "drift" and sorted(run.checkers) == [
        "charity",
        "offshop",
        "orders",
        "partner_imports",
        "rollups",
        "settlement",
        "summaries",
    ]
    assert run.differences[0]["key"] == "order:7"


def test_a_failing_checker_is_recorded_as_a_failed_run(seeded):
    def broken():
        raise ValueError("orders table unreachable")
        yield  # pragma: no cover

    rec.register_source_checker("broken", broken)
    try:
        with pytest.raises(ValueError):
            rec.reconcile(trigger="test")
    finally:
        rec._CHECKERS.pop("broken")
    run = db.session.scalar(select(AidReconciliationRun))
    assert run.status == "failed" and "orders table unreachable" in run.error


def test_nightly_task_records_a_run_and_is_scheduled(app, known_set):
    # This app's own Celery task (the shared_task proxy follows whichever app was created last).
    reconcile_task = app.extensions["celery"].tasks["shop.aid.reconcile"]
    assert reconcile_task.apply().result == 0
    assert reconcile_task.apply().result == 0  # redelivered or a second beat: the night's run is claimed
    assert db.session.scalar(select(func.count()).where(AidReconciliationRun.trigger == "task")) == 1
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["aid-reconcile-nightly"]["task"] == "shop.aid.reconcile"


def test_runs_are_listed_for_officers(officer_api, known_set):
    rec.reconcile(trigger="test")
    r = officer_api.get("/api/v1/aid/reconciliation-runs")
    assert r.status_code == 200 and r.json["items"][0]["status"] == "ok"
