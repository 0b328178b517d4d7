"""Thin Celery tasks: take ids, reload, call one service, safe to run twice.

Periodic tasks first claim their period (``shop.core.periodic.claim_run``), so a second beat or a
redelivered message does not run them twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

log = logging.getLogger(__name__)


def claim_period(task_name: str) -> bool:
    """Claim this run of a scheduled task; False when another scheduler already ran it this period."""
    from config.celery import beat_interval
    from shop.core.periodic import claim_run

    every = beat_interval(task_name, current_app.extensions["settings"])
    if every <= 0:
        return True
    if claim_run(task_name, every):
        return True
    log.info("%s already ran this period; skipping", task_name)
    return False


@shared_task(name="shop.outbox.sweep", ignore_result=True)
def outbox_sweep_task() -> int:
    """Re-send outbox messages that were not relayed right after their commit."""
    from shop.core.outbox import sweep

    if not claim_period("shop.outbox.sweep"):
        return 0
    return sweep()


@shared_task(name="shop.outbox.purge", ignore_result=True)
def outbox_purge_task() -> int:
    """Delete completed outbox rows and task failure records past their retention."""
    from shop.core.outbox import purge

    if not claim_period("shop.outbox.purge"):
        return 0
    return purge(older_than_days=current_app.extensions["settings"].OUTBOX_RETENTION_DAYS)


@shared_task(name="shop.stock.reconcile", ignore_result=True)
def stock_reconcile_task() -> int:
    """Prove every stock level equals the sum of its movements; log any drift."""
    from shop.inventory.services import reconcile

    if not claim_period("shop.stock.reconcile"):
        return 0
    drifts = reconcile()
    for d in drifts:
        log.error("stock drift: %s", d)
    return len(drifts)


@shared_task(name="shop.notifications.send", ignore_result=True, autoretry_for=(OSError,), max_retries=8)
def send_notification_task(notification_id: int) -> str:
    """Deliver one queued notification through the configured sender (store or SMTP)."""
    from shop.notifications.services import deliver

    return deliver(notification_id)


import workers.aid  # noqa: E402  (registers shop.aid.* tasks)
import workers.fulfilment  # noqa: E402  (registers shop.fulfilment.* tasks)
import workers.orders  # noqa: E402  (registers shop.orders.* tasks)
import workers.payments  # noqa: E402  (registers shop.payments.* tasks)
import workers.reports  # noqa: E402, F401  (registers shop.reports.* tasks)
