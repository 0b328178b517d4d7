"""Aid tasks: folding new entries into the summaries, the nightly reconciliation, partner imports."""

from __future__ import annotations

import logging

from celery import shared_task

from shop.aid.imports import process_import
from shop.aid.reconcile import reconcile
from shop.aid.summaries import fold
from shop.core.periodic import claim_period

log = logging.getLogger(__name__)


@shared_task(name="shop.aid.fold", ignore_result=True)
def fold_task() -> int:
    """Add the ledger entries not folded yet to the per-dimension summaries (beat, every
    ``AID_FOLD_SECONDS``); return how many. No period claim: folds running at once take different
    entries (``FOR UPDATE SKIP LOCKED``), and one that fails leaves its batch for the next."""
    return fold()


@shared_task(name="shop.aid.reconcile", ignore_result=True)
def reconcile_task() -> int:
    """Check aid rollups against the ledger and the ledger against its sources; record the run.

    Only reports (never repairs). Claims its period first, so a second beat or a redelivered message
    does not run it twice the same night. Returns the difference count.
    """
    if not claim_period("shop.aid.reconcile"):
        return 0
    run = reconcile(repair=False, trigger="task")
    if run.status != "ok":
        log.error("aid reconciliation run %s: %s, %s differences", run.id, run.status, run.difference_count)
    return run.difference_count


@shared_task(name="shop.aid.process_import", ignore_result=True)
def process_import_task(import_id: int) -> str:
    """Count the rows of an uploaded partner-platform sales file, batch by batch (resumes where an
    interrupted run stopped; a second delivery finds the import done or being processed and stops)."""
    imp = process_import(import_id)
    return imp.status if imp is not None else "missing"
