"""Thin Celery tasks: take ids, reload, call one service, safe to run twice."""

from __future__ import annotations

from celery import shared_task

import workers.aid  # noqa: F401  (registers the shop.aid.* tasks)


@shared_task(name="shop.outbox.sweep", ignore_result=True)
def outbox_sweep_task() -> int:
    """Re-send outbox messages that were not relayed right after their commit."""
    from shop.core.outbox import sweep

    return sweep()


@shared_task(name="shop.stock.reconcile", ignore_result=True)
def stock_reconcile_task() -> int:
    """Prove every stock level equals the sum of its movements; log any drift."""
    import logging

    from shop.inventory.services import reconcile

    drifts = reconcile()
    for d in drifts:
        logging.getLogger(__name__).error("stock drift: %s", d)
    return len(drifts)
