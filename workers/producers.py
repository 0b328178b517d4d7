"""Producer tasks: the monthly settlement run."""

from __future__ import annotations

import logging

from celery import shared_task

from shop.core.periodic import claim_period
from shop.producers.settlement import previous_period, run_settlement

log = logging.getLogger(__name__)


@shared_task(name="shop.producers.monthly_settlement", ignore_result=True)
def monthly_settlement_task(period: str | None = None) -> int:
    """Settle last month (or ``period``) for every producer; safe to run twice.

    Beat sends it on the 1st; it claims its period first, and a second run would settle nothing new
    anyway (every line is settled once). Returns the number of statements of the period.
    """
    if period is None and not claim_period("shop.producers.monthly_settlement"):
        return 0
    period = period or previous_period()
    statements = run_settlement(period, trigger="beat")
    log.info("settlement of %s: %s statements", period, len(statements))
    return len(statements)
