"""Fixtures for pre-order tests: the Stripe stand-in shop from the payment tests, browser fixtures."""

from __future__ import annotations

# The Stripe stand-in (a local server the official client talks to) and the shop wired to it.
from tests.payments.conftest import hold_fulfilment, stripe_api, stripe_shop  # noqa: F401
