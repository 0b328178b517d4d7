"""Stripe webhook inbox: store every verified event once (unique event id) and process it in the same
transaction that changes the order, so an event is either stored-and-applied or neither.

Stripe delivers at least once and in any order. Duplicates stop at the inbox's unique key. Order of
arrival does not matter because each handler looks at the current state of the payment and the order
(locked) and only ever moves them forward: a ``payment_failed`` after ``succeeded`` changes nothing, a
refund event that arrives before our own call stored the refund's id is matched by its metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.core.db import db, utcnow
from shop.orders import lifecycle as orders
from shop.orders.models import Order
from shop.payments import refunds
from shop.payments.errors import BadSignature
from shop.payments.models import Payment, PaymentEvent, Refund
from shop.payments.services import settle_payment

HANDLED = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
)


def _insert_event(event: dict) -> PaymentEvent | None:
    """Insert the event into the inbox; return its new row, or None when it was stored before."""
    obj = (event.get("data") or {}).get("object") or {}
    values = {
        "gateway": "stripe",
        "event_id": str(event["id"])[:120],
        "type": str(event.get("type", ""))[:80],
        "object_ref": str(obj.get("id", ""))[:120],
        "payload": event,
        "received_at": utcnow(),
        "outcome": "",
    }
    insert = (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(PaymentEvent)
    # A concurrent delivery of the same event waits here on the unique key, then inserts nothing.
    return db.session.scalars(
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=["gateway", "event_id"])
        .returning(PaymentEvent)
    ).first()


def receive_stripe_event(event: dict) -> tuple[PaymentEvent, bool]:
    """Store and process one verified Stripe event; return (inbox row, whether it was new)."""
    if not event.get("id"):
        raise BadSignature("the event has no id")
    row = _insert_event(event)
    if row is None:
        row = db.session.scalar(
            select(PaymentEvent).where(PaymentEvent.gateway == "stripe", PaymentEvent.event_id == event["id"])
        )
        return row, False
    outcome, order_id = _process(event)
    row.outcome = outcome[:200]
    row.order_id = order_id
    row.processed_at = utcnow()
    db.session.flush()
    return row, True


def _process(event: dict) -> tuple[str, int | None]:
    kind = event.get("type", "")
    obj = (event.get("data") or {}).get("object") or {}
    if kind.startswith("payment_intent."):
        return _payment_intent_event(kind, obj, event)
    if kind == "charge.refunded":
        return _charge_refunded(obj)
    if kind in ("charge.refund.updated", "refund.created", "refund.updated", "refund.failed"):
        return _refund_event(obj)
    return f"ignored: {kind} not handled", None


def _metadata_id(obj: dict, key: str) -> int | None:
    value = (obj.get("metadata") or {}).get(key)
    try:
        number = int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 0 < number < 2**31 else None  # ids are 32-bit


def _payment_intent_event(kind: str, obj: dict, event: dict) -> tuple[str, int | None]:
    if kind not in HANDLED:
        return f"ignored: {kind} not handled", None
    # Only a PaymentIntent the shop created (and stored when it did) can pay an order; metadata naming
    # an order is anyone's to write (another integration on the same Stripe account, a dashboard user).
    payment = db.session.scalar(
        select(Payment).where(Payment.gateway == "stripe", Payment.provider_ref == obj.get("id"))
    )
    if payment is None:
        return _unknown_intent(kind, obj)
    order = orders.lock_order(payment.order_id)
    if kind == "payment_intent.succeeded":
        created = event.get("created")
        paid_at = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else utcnow()
        received = obj.get("amount_received")
        outcome = settle_payment(
            order,
            payment,
            amount_fen=int(received if received is not None else obj.get("amount") or 0),
            currency=str(obj.get("currency") or ""),
            paid_at=paid_at,
        )
        return outcome, order.id
    if payment.status in ("succeeded", "mismatch"):
        return f"ignored: payment already {payment.status}", order.id
    if kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        payment.status = "failed"
        payment.failure = str(error.get("message") or error.get("code") or "payment failed")[:500]
        db.session.flush()
        if order.status == "pending_payment":
            orders.notify(order, "payment_failed", ref=payment.id)
        return "payment failed: buyer may retry", order.id
    payment.status = "canceled"
    db.session.flush()
    return "payment canceled", order.id


def _unknown_intent(kind: str, obj: dict) -> tuple[str, int | None]:
    """A PaymentIntent the shop never created: never applied to an order. When money was taken for an
    order its metadata names, that order is flagged for staff, who decide in the Stripe dashboard."""
    order_id = _metadata_id(obj, "order_id")
    if order_id is None or db.session.get(Order, order_id) is None:
        return "ignored: no order for this payment", None
    if kind != "payment_intent.succeeded":
        return f"ignored: {kind} for a PaymentIntent the shop did not create", order_id
    order = orders.lock_order(order_id)
    intent = str(obj.get("id"))[:120]
    received = obj.get("amount_received")
    amount = received if received is not None else obj.get("amount")
    note = (
        f"Stripe reports PaymentIntent {intent} ({amount} {str(obj.get('currency') or '').upper()}) "
        "as paid for this order, but the shop did not create it: not applied. Check it in the Stripe "
        "dashboard and refund it there if it is not this order's payment."
    )
    if intent not in order.attention_note:
        orders.flag(order, note)
    return "PaymentIntent not created by the shop: flagged, not applied", order.id


def _find_refund(obj: dict) -> Refund | None:
    refund = db.session.scalar(
        select(Refund).where(Refund.gateway == "stripe", Refund.provider_ref == obj.get("id"))
    )
    if refund is None:
        refund_id = _metadata_id(obj, "refund_id")
        refund = db.session.get(Refund, refund_id) if refund_id else None
        if refund is not None and refund.provider_ref and refund.provider_ref != obj.get("id"):
            return None
    return refund


def _refund_event(obj: dict) -> tuple[str, int | None]:
    refund = _find_refund(obj)
    if refund is None:
        return _unknown_refund(obj.get("payment_intent"), f"refund {obj.get('id')} was not made by the shop")
    status = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(
        obj.get("status"), "pending"
    )
    failure = str(obj.get("failure_reason") or "") if status == "failed" else ""
    return refunds.settle_refund(
        refund, status=status, provider_ref=obj.get("id"), failure=failure
    ), refund.order_id


def _charge_refunded(charge: dict) -> tuple[str, int | None]:
    """A charge was refunded (fully or partly): settle the refunds it lists, and make sure the total
    refunded at Stripe is not more than the shop has recorded (a refund made in Stripe's dashboard)."""
    pi = charge.get("payment_intent")
    outcomes = []
    order_id = None
    for r in ((charge.get("refunds") or {}).get("data")) or []:
        out, oid = _refund_event({**r, "payment_intent": r.get("payment_intent") or pi})
        outcomes.append(out)
        order_id = order_id or oid
    payment = db.session.scalar(
        select(Payment).where(Payment.gateway == "stripe", Payment.provider_ref == pi)
    )
    if payment is None:
        return "; ".join(outcomes) or "ignored: unknown payment", order_id
    recorded = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment.id, Refund.status != "failed"
        )
    )
    at_stripe = int(charge.get("amount_refunded") or 0)
    if at_stripe > int(recorded or 0):
        order = orders.lock_order(payment.order_id)
        orders.flag(order, f"Stripe shows {at_stripe} fen refunded, the shop recorded {recorded}")
        outcomes.append("refunded outside the shop: flagged")
    return "; ".join(outcomes) or "charge refunded: nothing new", payment.order_id


def _unknown_refund(payment_intent: str | None, note: str) -> tuple[str, int | None]:
    payment = db.session.scalar(
        select(Payment).where(Payment.gateway == "stripe", Payment.provider_ref == payment_intent)
    )
    if payment is None:
        return "ignored: refund for an unknown payment", None
    order = orders.lock_order(payment.order_id)
    orders.flag(order, note)
    return "unknown refund: flagged", order.id
