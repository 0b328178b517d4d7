"""Fulfilment tasks (queue ``fulfilment``): each takes an order id, reloads and locks the order, checks
its state and does nothing when its step is done already, so a message delivered twice (a redelivery
after a crash, the outbox sweep re-sending) never takes stock twice or makes a second parcel.

Each step runs in one transaction that queues the next step through the outbox and marks the step's own
outbox message completed (``completes_in_step``): a step that committed is never run again by the sweep,
and a step that failed leaves its message open for the retry.
"""

from __future__ import annotations

import logging

from celery import shared_task

from shop.core import outbox
from shop.core.db import atomic
from shop.fulfilment.services import pick_order, prepare_handover

log = logging.getLogger(__name__)


@shared_task(name="shop.fulfilment.fulfil_order", ignore_result=True, completes_in_step=True)
def fulfil_order_task(order_id: int) -> str:
    """Pick a paid order: its reservation becomes sale movements on specific lots (first-expiry-first)."""
    with atomic():
        outcome = pick_order(order_id)
        outbox.complete_with_this_transaction()
    log.info("fulfil order %s: %s", order_id, outcome)
    return outcome


@shared_task(name="shop.fulfilment.prepare_handover", ignore_result=True, completes_in_step=True)
def prepare_handover_task(order_id: int) -> str:
    """Create a picked order's shipment or pickup ticket and queue the buyer's notice."""
    with atomic():
        outcome = prepare_handover(order_id)
        outbox.complete_with_this_transaction()
    log.info("prepare hand-over of order %s: %s", order_id, outcome)
    return outcome
