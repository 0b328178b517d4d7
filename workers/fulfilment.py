"""Fulfilment tasks (queue ``fulfilment``): each takes an order id, reloads and locks the order, checks
its state and does nothing when its step is done already, so a message delivered twice (a redelivery
after a crash, the outbox sweep re-sending) never takes stock twice or makes a second parcel.

Each step runs in one transaction and queues the next step through the outbox in that transaction.
"""

from __future__ import annotations

import logging

from celery import shared_task

from shop.core.db import atomic
from shop.fulfilment.services import pick_order, prepare_handover

log = logging.getLogger(__name__)


@shared_task(name="shop.fulfilment.fulfil_order", ignore_result=True)
def fulfil_order_task(order_id: int) -> str:
    """Pick a paid order: its reservation becomes sale movements on specific lots (first-expiry-first)."""
    with atomic():
        outcome = pick_order(order_id)
    log.info("fulfil order %s: %s", order_id, outcome)
    return outcome


@shared_task(name="shop.fulfilment.prepare_handover", ignore_result=True)
def prepare_handover_task(order_id: int) -> str:
    """Create a picked order's shipment or pickup ticket and queue the buyer's notice."""
    with atomic():
        outcome = prepare_handover(order_id)
    log.info("prepare hand-over of order %s: %s", order_id, outcome)
    return outcome
