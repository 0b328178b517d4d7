"""How the shop picks a payment gateway implementation.

The gateway is chosen by ``PAYMENT_GATEWAY`` when an order is placed and stored on the order, so an
order is always refunded through the gateway that took its money, even after the setting changes.
"""

from __future__ import annotations

from flask import current_app

from shop.payments.gateway import PaymentGateway
from shop.payments.internal import AccountGateway, PickupCardGateway
from shop.payments.manual import ManualGateway
from shop.payments.stripe_gateway import StripeGateway


def configured_gateway_name() -> str:
    return current_app.extensions["settings"].PAYMENT_GATEWAY


def get_gateway(name: str | None = None) -> PaymentGateway:
    """Return the implementation for ``name`` (default: the configured one)."""
    name = name or configured_gateway_name()
    settings = current_app.extensions["settings"]
    if name == "manual":
        return ManualGateway()
    if name == "stripe":
        return StripeGateway(settings)
    if name == "account":
        return AccountGateway()
    if name == "pickup_card":
        return PickupCardGateway()
    raise ValueError(f"unknown payment gateway {name!r}")
