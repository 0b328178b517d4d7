"""Harvest pre-order tasks: fill and refund a harvested campaign's pledges, one batch per message."""

from __future__ import annotations

import logging

from celery import shared_task

from shop.preorders.harvest import allocate_batch

log = logging.getLogger(__name__)


@shared_task(name="shop.preorders.allocate_harvest", ignore_result=True)
def allocate_harvest_task(campaign_id: int) -> int:
    """Settle the next batch of a harvested campaign's planned pledges (each once, in plan order); the
    next batch is queued through the outbox until none are left."""
    left = allocate_batch(campaign_id)
    log.info("campaign %s: %s pledges left to settle", campaign_id, left)
    return left
