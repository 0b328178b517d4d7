"""The payment gateway interface and how the shop picks an implementation.

The gateway is chosen by ``PAYMENT_GATEWAY`` when an order is placed and stored on the order, so an
order is always refunded through the gateway that took its money, even after the setting changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flask import current_app

if TYPE_CHECKING:
    from shop.orders.models import Order
    from shop.payments.models import Payment, Refund

GATEWAYS = ("manual", "stripe")


@dataclass(frozen=True)
class IntentResult:
    """A payment the buyer can now complete (a Stripe PaymentIntent)."""

    provider_ref: str
    client_secret: str
    status: str
    amount_fen: int
    currency: str


@dataclass(frozen=True)
class RefundResult:
    status: str  # pending | succeeded | failed
    provider_ref: str | None = None
    failure: str = ""


class PaymentGateway(Protocol):
    name: str

    def create_intent(self, order: Order) -> IntentResult:
        """Create (or find again, idempotently) the payment the buyer completes online."""
        ...

    def cancel_intent(self, payment: Payment) -> None:
        """Make an unpaid online payment impossible to complete (order expired or cancelled)."""
        ...

    def refund(self, refund: Refund, payment: Payment) -> RefundResult:
        """Give ``refund.amount_fen`` of ``payment`` back; safe to call again for the same refund."""
        ...


def configured_gateway_name() -> str:
    return current_app.extensions["settings"].PAYMENT_GATEWAY


def get_gateway(name: str | None = None) -> PaymentGateway:
    """Return the implementation for ``name`` (default: the configured one)."""
    name = name or configured_gateway_name()
    settings = current_app.extensions["settings"]
    if name == "manual":
        from shop.payments.manual import ManualGateway

        return ManualGateway()
    if name == "stripe":
        from shop.payments.stripe_gateway import StripeGateway

        return StripeGateway(settings)
    raise ValueError(f"unknown payment gateway {name!r}")
