"""The read side of payments: an order's payment attempts, the one that counts, the one still open."""

from __future__ import annotations

from sqlalchemy import select

from shop.core.db import db
from shop.orders.models import Order
from shop.payments.models import Payment


def counted_payment(order: Order) -> Payment | None:
    """The payment that counts for the order (its first that succeeded), or None."""
    return db.session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.status == "succeeded")
        .order_by(Payment.succeeded_at, Payment.id)
        .limit(1)
    )


def open_intent(order: Order) -> Payment | None:
    """The order's online payment the buyer can still complete, if one was created."""
    return db.session.scalar(
        select(Payment)
        .where(
            Payment.order_id == order.id,
            Payment.gateway == order.gateway,
            Payment.provider_ref.is_not(None),
            Payment.status.in_(("pending", "failed")),
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


def payments_of(order: Order) -> list[Payment]:
    """Every payment attempt of the order, oldest first (staff see them all)."""
    return list(db.session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)))
