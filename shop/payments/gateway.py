"""The payment gateway interface: what the shop asks of a gateway and what it answers.

The implementations are ``manual.py`` and ``stripe_gateway.py``; ``gateways.py`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shop.orders.models import Order
    from shop.payments.models import Payment, Refund

# Chosen at checkout: manual or stripe. A work unit's account and its pickup cards pay orders too
# (``internal.py``); refunds go back the way the order's counted payment came.
GATEWAYS = ("manual", "stripe")
PAYMENT_GATEWAYS = (*GATEWAYS, "account", "pickup_card")


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

    def retrieve_intent(self, provider_ref: str) -> dict:
        """The online payment as the provider has it now (online gateways; the stale-payment sync)."""
        ...

    def refund(self, refund: Refund, payment: Payment) -> RefundResult:
        """Give ``refund.amount_fen`` of ``payment`` back; safe to call again for the same refund."""
        ...
