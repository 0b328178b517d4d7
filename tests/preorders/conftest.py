"""Fixtures for pre-order tests: the Stripe stand-in shop from the payment tests, browser fixtures."""

from __future__ import annotations

import pytest

from tests.browser_support import browser, live_server  # noqa: F401

# The Stripe stand-in (a local server the official client talks to) and the shop wired to it.
from tests.payments.conftest import hold_fulfilment, stripe_api, stripe_shop  # noqa: F401


@pytest.fixture
def phone(browser, request, tmp_path):  # noqa: F811 (fixture from browser_support)
    """A phone-sized Chinese browser context (touch, mobile viewport); screenshots kept on failure."""
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        shot = tmp_path / "failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of a failed page: {shot}")
    context.close()
