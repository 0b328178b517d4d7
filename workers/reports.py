"""Report tasks (queue ``reports``): what hall operators are told by the scheduler.

Both run from beat, claim their period first (one run per period however many schedulers fire), and
deduplicate each notification by key, so a retry or a redelivered message tells nobody twice.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task

from shop.core.periodic import claim_period
from shop.fulfilment.hall_reports import send_hall_summaries, send_stock_alerts


@shared_task(name="shop.reports.stock_alerts", ignore_result=True)
def stock_alerts_task() -> int:
    """Tell each location's operators about low stock and lots expiring soon (a digest per change)."""
    if not claim_period("shop.reports.stock_alerts"):
        return 0
    return send_stock_alerts()


@shared_task(name="shop.reports.hall_summary", ignore_result=True)
def hall_summary_task(day: str | None = None) -> int:
    """Store yesterday's sales summary of each hall for its operators (``day``: ISO date to redo one)."""
    if day is None and not claim_period("shop.reports.hall_summary"):
        return 0
    return send_hall_summaries(day=date.fromisoformat(day) if day else None)
