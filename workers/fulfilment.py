"""Fulfilment tasks (queue ``fulfilment``): each takes an order id (or the ids of a picked batch),
reloads and locks the orders, checks their state and does nothing for a step done already, so a message
delivered twice (a redelivery after a crash, the outbox sweep re-sending) never takes stock twice or
makes a second parcel. When paid orders queue up, one pick task takes up to FULFILMENT_BATCH_SIZE of
them (``pick_waiting``) and the tasks of the others find their messages completed and stop: on the
batch's hint in Redis before any database work (``outbox.completed_in_batch``), else on reading the row.

Each step runs in one transaction that queues the next step through the outbox and marks the step's own
outbox message completed (``completes_in_step``): a step that committed is never run again by the sweep,
and a step that failed leaves its message open for the retry.
"""

from __future__ import annotations

import logging

from celery import shared_task

from shop.core import outbox
from shop.core.db import atomic
from shop.fulfilment.services import pick_waiting, prepare_handover, prepare_handovers

log = logging.getLogger(__name__)


@shared_task(
    name="shop.fulfilment.fulfil_order", ignore_result=True, completes_in_step=True, taken_in_batches=True
)
def fulfil_order_task(order_id: int) -> str:
    """Pick a paid order (and others waiting): reservations become sale movements on lots (first-expiry-first)."""
    with atomic():
        outcome = pick_waiting(order_id)
        outbox.complete_with_this_transaction()
    log.info("fulfil order %s: %s", order_id, outcome)
    return outcome


@shared_task(name="shop.fulfilment.prepare_handover", ignore_result=True, completes_in_step=True)
def prepare_handover_task(order_id: int | None = None, order_ids: list[int] | None = None) -> str:
    """Create a picked order's (or batch's) shipments or pickup tickets and queue the buyers' notices."""
    with atomic():
        outcome = prepare_handovers(order_ids) if order_ids is not None else prepare_handover(order_id)
        outbox.complete_with_this_transaction()
    log.info("prepare hand-over of order %s: %s", order_id or order_ids, outcome)
    return outcome
