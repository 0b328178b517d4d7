"""How the shop picks a payment gateway implementation.

The gateway is chosen by ``PAYMENT_GATEWAY`` when an order is placed and stored on the order, so an
order is always refunded through the gateway that took its money, even after the setting changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from shop.payments.gateway import PaymentGateway
from shop.payments.internal import AccountGateway, PickupCardGateway
from shop.payments.manual import ManualGateway

if TYPE_CHECKING:
    from shop.payments.stripe_gateway import StripeGateway


def configured_gateway_name() -> str:
    return current_app.extensions["settings"].PAYMENT_GATEWAY


def stripe_gateway() -> StripeGateway:
    """The Stripe gateway with this app's settings (raises ``GatewayUnavailable`` when not configured)."""
    # why: the stripe library (about 20 MB with requests) is loaded only by processes that talk to Stripe
    from shop.payments.stripe_gateway import StripeGateway

    return StripeGateway(current_app.extensions["settings"])


def get_gateway(name: str | None = None) -> PaymentGateway:
    """Return the implementation for ``name`` (default: the configured one)."""
    name = name or configured_gateway_name()
    if name == "manual":
        return ManualGateway()
    if name == "stripe":
        return stripe_gateway()
    if name == "account":
        return AccountGateway()
    if name == "pickup_card":
        return PickupCardGateway()
    raise ValueError(f"unknown payment gateway {name!r}")
