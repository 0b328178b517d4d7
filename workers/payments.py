"""Payment tasks: gateway calls that move money, made after the commit that justifies them.

Each takes ids, reloads, checks state and is safe to run twice (the gateway sees the same idempotency
key each time). A gateway that is unreachable raises, so Celery retries with backoff and jitter; the
outbox sweep re-sends anything that never reached a worker.
"""

from __future__ import annotations

from celery import shared_task

from shop.payments.errors import GatewayUnavailable

RETRY = {
    "autoretry_for": (GatewayUnavailable,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 12,
}


@shared_task(name="shop.payments.send_refund", ignore_result=True, **RETRY)
def send_refund_task(refund_id: int) -> str:
    """Send a recorded refund to its gateway (idempotency key ``refund-<id>``)."""
    from shop.payments.refunds import send_refund

    return send_refund(refund_id)


@shared_task(name="shop.payments.cancel_intent", ignore_result=True, **RETRY)
def cancel_intent_task(payment_id: int) -> None:
    """Cancel an online payment of an order that expired or was cancelled before it was paid."""
    from shop.payments.services import cancel_intent

    cancel_intent(payment_id)
