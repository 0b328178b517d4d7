"""Payment tasks: gateway calls that move money, made after the commit that justifies them.

Each takes ids, reloads, checks state and is safe to run twice (the gateway sees the same idempotency
key each time). When the gateway is unavailable a worker retries with exponential backoff and jitter;
run inline (``OUTBOX_DELIVERY=inline``) the task fails at once and the outbox sweep sends it again later.
"""

from __future__ import annotations

import random

from celery import shared_task

from shop.core.periodic import claim_period
from shop.payments.errors import GatewayUnavailable
from shop.payments.refunds import send_refund
from shop.payments.services import cancel_intent
from shop.payments.sync import sync_stale_payments

MAX_RETRIES = 12


def _retry(task, exc: Exception):
    if task.request.is_eager:
        raise exc
    countdown = min(600, 5 * 2**task.request.retries) * random.uniform(0.5, 1.0)
    raise task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES)


@shared_task(name="shop.payments.send_refund", bind=True, ignore_result=True)
def send_refund_task(self, refund_id: int) -> str:
    """Send a recorded refund to its gateway (idempotency key ``refund-<id>``)."""
    try:
        return send_refund(refund_id)
    except GatewayUnavailable as exc:
        _retry(self, exc)
        raise


@shared_task(name="shop.payments.cancel_intent", bind=True, ignore_result=True)
def cancel_intent_task(self, payment_id: int) -> None:
    """Cancel an online payment of an order that expired or was cancelled before it was paid."""
    try:
        cancel_intent(payment_id)
    except GatewayUnavailable as exc:
        _retry(self, exc)
        raise


@shared_task(name="shop.payments.sync_stale", ignore_result=True)
def sync_stale_task() -> dict:
    """Ask Stripe about payments still pending (missed webhooks) and apply them as the webhook would."""
    if not claim_period("shop.payments.sync_stale"):
        return {}
    return sync_stale_payments()
