"""Catch up on missed Stripe webhooks: ask Stripe about payments still pending and apply what it says
exactly as the webhook would.

Stripe retries a webhook for three days, but an endpoint that is down longer, a rotated signing secret
or a proxy that drops the request can still lose one; then the buyer paid and the order sits in
``pending_payment`` until it expires and is refunded. The beat job ``shop.payments.sync_stale`` looks at
online payments still pending after ``STALE_PAYMENT_MINUTES``, retrieves each PaymentIntent (no
transaction open during the call), and feeds the result through the webhook inbox as an event with a
deterministic id (``sync:<intent>:<status>``). The inbox stores it once, and applying a payment that
is already applied changes nothing, so the sync and a late real webhook can arrive in any order.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from shop.core.db import atomic, db, utcnow
from shop.orders.models import Order
from shop.payments.errors import GatewayUnavailable
from shop.payments.gateways import get_gateway
from shop.payments.models import Payment
from shop.payments.webhooks import receive_stripe_event

log = logging.getLogger(__name__)

# Stripe states that settle a payment one way or the other; the rest (requires_payment_method,
# processing...) mean "still open" and are left for the next run or the webhook.
FINAL = {"succeeded": "payment_intent.succeeded", "canceled": "payment_intent.canceled"}
# PaymentIntents for orders older than this are not chased any more (the order expired long ago and
# Stripe's own retries are over); staff see them on the order.
LOOK_BACK = timedelta(days=7)


def stale_payments(*, now: datetime, older_than_minutes: int, limit: int = 200) -> list[int]:
    """Ids of online payments still pending after ``older_than_minutes`` for orders that could use them."""
    return list(
        db.session.scalars(
            select(Payment.id)
            .join(Order, Payment.order_id == Order.id)
            .where(
                Payment.gateway == "stripe",
                Payment.status == "pending",
                Payment.provider_ref.is_not(None),
                Payment.created_at <= now - timedelta(minutes=older_than_minutes),
                Payment.created_at >= now - LOOK_BACK,
                Order.status.in_(("pending_payment", "expired")),
            )
            .order_by(Payment.id)
            .limit(limit)
        )
    )


def sync_payment(payment_id: int, *, now: datetime | None = None) -> str:
    """Apply what Stripe says about one pending payment, as its webhook would; return the outcome."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status != "pending" or not payment.provider_ref:
        return "nothing to sync"
    ref = payment.provider_ref
    db.session.rollback()  # no transaction stays open during the network call
    intent = get_gateway("stripe").retrieve_intent(ref)
    kind = FINAL.get(intent.get("status", ""))
    if kind is None:
        return f"still {intent.get('status')}"
    # The event's time becomes the payment's time (and so the aid day): when the buyer paid, which the
    # expanded latest charge tells, not when this sync happened to notice it.
    charge = intent.get("latest_charge")
    paid = charge.get("created") if isinstance(charge, dict) else None
    event = {
        "id": f"sync:{ref}:{intent['status']}",
        "object": "event",
        "type": kind,
        "created": paid if isinstance(paid, int) else int((now or utcnow()).timestamp()),
        "data": {"object": intent},
        "shop_source": "payments sync (missed webhook)",
    }
    with atomic():
        row, new = receive_stripe_event(event)
        return row.outcome if new else "already synced"


def sync_stale_payments(*, now: datetime | None = None) -> dict[str, int]:
    """Sync every stale pending payment; return counts by outcome. Stops early if Stripe is down."""
    now = now or utcnow()
    minutes = current_app.extensions["settings"].STALE_PAYMENT_MINUTES
    ids = stale_payments(now=now, older_than_minutes=minutes)
    db.session.rollback()
    outcomes: dict[str, int] = {}
    for payment_id in ids:
        try:
            outcome = sync_payment(payment_id, now=now)
        except GatewayUnavailable as exc:
            log.warning("payment sync stopped: %s", exc)
            outcomes["gateway unavailable"] = outcomes.get("gateway unavailable", 0) + 1
            break
        log.info("payment %s synced: %s", payment_id, outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
