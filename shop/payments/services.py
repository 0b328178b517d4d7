"""Payment use cases: confirm a manual payment, start an online (Stripe) payment, apply a payment that
succeeded to its order, cancel open online payments.

They act on orders through the order lifecycle (``shop.orders.lifecycle``: lock, mark paid, re-reserve,
notify, flag), never through the order use cases, which sit above payments.

Exactly one payment counts for an order. Whatever arrives on top (a second payment, a payment for a
cancelled order, a late payment when the stock is gone) is refunded automatically through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from shop.accounts.auth import ensure_location_access
from shop.accounts.models import User
from shop.audit.services import record
from shop.core import clock
from shop.core.db import atomic, db, utcnow
from shop.core.outbox import enqueue
from shop.orders import lifecycle as orders
from shop.orders.errors import BadTransition
from shop.orders.models import Order
from shop.orders.states import advance
from shop.payments import refunds
from shop.payments.errors import AmountMismatch, UnknownPaymentMethod, WrongGateway
from shop.payments.gateway import IntentResult
from shop.payments.gateways import get_gateway
from shop.payments.models import Payment

MANUAL_METHODS = ("cash", "transfer", "wechat", "alipay", "card")


def _ensure_payable(order: Order, now: datetime) -> None:
    if order.status != "pending_payment":
        raise BadTransition(
            f"order {order.number} is {order.status}; it cannot be paid", status_now=order.status
        )
    if clock.aware(order.reserved_until) < now:
        raise BadTransition(
            f"order {order.number} was not paid in time; its reservation has run out", status_now="expired"
        )


def confirm_manual_payment(
    order_id: int,
    *,
    staff: User,
    method: str,
    amount_fen: int | None = None,
    reference: str = "",
    now: datetime | None = None,
) -> Order:
    """Record that staff received the order's money at the hall or by transfer; the order becomes paid.

    ``method`` must be one of MANUAL_METHODS whoever calls (the API schema, the staff page's form, a
    script): the audit log and the hall's cash-up rely on it.
    """
    if method not in MANUAL_METHODS:
        raise UnknownPaymentMethod(
            f"{method!r} is not a way the shop takes money; one of {', '.join(MANUAL_METHODS)}",
            errors=[{"field": "method", "message": f"one of {', '.join(MANUAL_METHODS)}"}],
        )
    now = now or utcnow()
    order = orders.lock_order(order_id)
    ensure_location_access(staff, order.location)
    if order.gateway != "manual":
        raise WrongGateway(f"order {order.number} is paid online through {order.gateway}")
    _ensure_payable(order, now)
    if amount_fen is not None and amount_fen != order.total_fen:
        raise AmountMismatch(
            f"received {amount_fen} fen but order {order.number} costs {order.total_fen} fen",
            errors=[{"field": "amount_fen", "message": f"must equal the order total {order.total_fen}"}],
        )
    payment = Payment(
        order_id=order.id,
        gateway="manual",
        # One manual payment per order: a second confirmation hits the unique (gateway, provider_ref).
        provider_ref=f"manual-order-{order.id}",
        method=method,
        amount_fen=order.total_fen,
        currency=order.currency,
        status="succeeded",
        note=reference[:200],
        confirmed_by_id=staff.id,
        succeeded_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    orders.mark_paid(
        order, amount_fen=order.total_fen, paid_at=now, actor_id=staff.id, reason=f"manual payment ({method})"
    )
    record(
        staff,
        "order.payment_confirmed",
        target_type="order",
        target_id=order.id,
        number=order.number,
        amount_fen=order.total_fen,
        method=method,
        reference=reference[:200],
    )
    return order


# -- online payments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnlinePayment:
    """What the buyer's browser needs to complete an online payment (Stripe.js and its client secret)."""

    gateway: str
    payment_intent: str | None
    client_secret: str
    amount_fen: int
    currency: str


def start_online_payment(order: Order, buyer: User) -> OnlinePayment:
    """Start the buyer's online payment of ``order`` (card, Alipay, WeChat Pay), or find it again.

    The gateway is asked before any write and outside any transaction; its idempotency key is derived
    from the order, so starting again returns the same PaymentIntent. The intent is then kept in one
    unit of work. Raises NotYourOrder, WrongGateway (a manual order) or BadTransition (not payable).
    """
    _check_can_start_online_payment(order, buyer)
    result = _create_intent(order)
    with atomic():
        payment = _store_intent(order.id, result)
        return OnlinePayment(
            gateway=payment.gateway,
            payment_intent=payment.provider_ref,
            client_secret=payment.client_secret,
            amount_fen=payment.amount_fen,
            currency=payment.currency,
        )


def _check_can_start_online_payment(order: Order, buyer: User, *, now: datetime | None = None) -> None:
    orders.ensure_buyer(order, buyer)
    if order.gateway == "manual":
        raise WrongGateway(f"order {order.number} is paid at the hall or by transfer")
    _ensure_payable(order, now or utcnow())


def _create_intent(order: Order) -> IntentResult:
    """Ask the gateway for the order's payment. Writes nothing: this runs outside any transaction, and
    the gateway's idempotency key (derived from the order) returns the same intent when asked again."""
    return get_gateway(order.gateway).create_intent(order)


def _store_intent(order_id: int, result: IntentResult) -> Payment:
    """Keep the intent the gateway returned (once, however often this runs)."""
    order = orders.lock_order(order_id)
    payment = db.session.scalar(
        select(Payment).where(Payment.gateway == order.gateway, Payment.provider_ref == result.provider_ref)
    )
    if payment is None:
        payment = Payment(
            order_id=order.id,
            gateway=order.gateway,
            provider_ref=result.provider_ref,
            amount_fen=result.amount_fen,
            currency=result.currency,
            status="pending",
        )
        db.session.add(payment)
    if not payment.client_secret:
        payment.client_secret = result.client_secret
    db.session.flush()
    return payment


def cancel_open_payments(order: Order) -> None:
    """After commit, cancel the order's unpaid online payments so the buyer can no longer complete them."""
    rows = db.session.scalars(
        select(Payment.id).where(
            Payment.order_id == order.id,
            Payment.gateway != "manual",
            Payment.provider_ref.is_not(None),
            Payment.status.in_(("pending", "failed")),
        )
    )
    for payment_id in rows:
        enqueue("shop.payments.cancel_intent", {"payment_id": payment_id}, queue="payments")


def cancel_intent(payment_id: int) -> None:
    """Cancel one online payment at the gateway (a task; a payment that already succeeded is left)."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status not in ("pending", "failed"):
        return
    db.session.rollback()  # no transaction stays open during the network call
    get_gateway(payment.gateway).cancel_intent(payment)


# -- applying a payment that succeeded ---------------------------------------------------------------


def settle_payment(
    order: Order, payment: Payment, *, amount_fen: int, currency: str, paid_at: datetime
) -> str:
    """Apply a payment the gateway reports as succeeded to its (locked) order; return what happened.

    - the amount or currency differs from the order: recorded, the order is not paid, staff are alerted;
    - the order waits for payment: it becomes paid;
    - the order expired: its stock is reserved again if possible and it becomes paid, else the money
      goes back automatically and the buyer is told;
    - the order was cancelled or is already paid by another payment: this money goes back automatically.
    """
    if payment.status == "succeeded":
        return "already applied"
    currency = currency.upper()
    payment.amount_fen = amount_fen
    payment.currency = currency
    if currency != order.currency or amount_fen != order.total_fen:
        payment.status = "mismatch"
        payment.failure = f"received {amount_fen} {currency}, order total {order.total_fen} {order.currency}"
        orders.flag(order, f"payment {payment.provider_ref}: {payment.failure}; order not marked paid")
        return "amount mismatch: flagged"
    payment.status = "succeeded"
    payment.succeeded_at = paid_at
    db.session.flush()
    reason = f"{payment.gateway} payment {payment.provider_ref}"
    if order.status == "pending_payment" and orders.is_holding(order):
        orders.mark_paid(order, amount_fen=amount_fen, paid_at=paid_at, actor_id=None, reason=reason)
        return "paid"
    if order.status == "expired":
        if orders.re_reserve(order, on=clock.local_day(paid_at)):
            orders.mark_paid(
                order, amount_fen=amount_fen, paid_at=paid_at, actor_id=None, reason=reason + " (late)"
            )
            return "paid late: stock reserved again"
        order.paid_fen += amount_fen
        db.session.flush()
        refunds.refund_payment(order, payment, reason="paid after expiry; stock no longer available")
        advance(order, "refunded", reason="paid after expiry without stock; refunded automatically")
        orders.notify(order, "auto_refunded", ref=payment.id)
        return "paid late without stock: refunded"
    # Cancelled, already paid by another payment, or beyond: the shop must not keep this money.
    order.paid_fen += amount_fen
    db.session.flush()
    refunds.refund_payment(order, payment, reason=f"payment not needed (order {order.status})")
    orders.notify(order, "auto_refunded", ref=payment.id)
    return f"order {order.status}: payment refunded"
