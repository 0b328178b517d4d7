"""Thin Celery tasks: take ids, reload, call one service, safe to run twice.

Periodic tasks first claim their period (``shop.core.periodic.claim_period``), so a second beat or a
redelivered message does not run them twice. Celery finds this module and its siblings through
``include`` (``config/celery.py``).
"""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from shop.core import outbox
from shop.core.periodic import claim_period
from shop.inventory.services import reconcile
from shop.notifications.services import deliver

log = logging.getLogger(__name__)


@shared_task(name="shop.outbox.sweep", ignore_result=True)
def outbox_sweep_task() -> int:
    """Re-send outbox messages that were not relayed right after their commit."""
    if not claim_period("shop.outbox.sweep"):
        return 0
    return outbox.sweep()


@shared_task(name="shop.outbox.purge", ignore_result=True)
def outbox_purge_task() -> int:
    """Delete completed outbox rows and task failure records past their retention."""
    if not claim_period("shop.outbox.purge"):
        return 0
    return outbox.purge(older_than_days=current_app.extensions["settings"].OUTBOX_RETENTION_DAYS)


@shared_task(name="shop.stock.reconcile", ignore_result=True)
def stock_reconcile_task() -> int:
    """Prove every stock level equals the sum of its movements; log any drift."""
    if not claim_period("shop.stock.reconcile"):
        return 0
    drifts = reconcile()
    for d in drifts:
        log.error("stock drift: %s", d)
    return len(drifts)


@shared_task(name="shop.notifications.send", ignore_result=True, autoretry_for=(OSError,), max_retries=8)
def send_notification_task(
    notification_id: int | None = None, notification_ids: list[int] | None = None
) -> str:
    """Deliver one queued notification (or several, queued together) through the configured sender (store
    or SMTP). Each is sent once: a retry after a failure skips those already sent."""
    if notification_ids is None:
        return deliver(notification_id)
    return ", ".join(deliver(int(i)) for i in notification_ids)
