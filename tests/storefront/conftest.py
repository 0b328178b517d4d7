"""Fixtures for the storefront tests: the seeded shop on a free port and headless Debian Chromium (never a
downloaded browser), kept off the network (tests/browser_support.py)."""

from __future__ import annotations

import pytest

from tests.browser_support import browser, live_server  # noqa: F401


@pytest.fixture
def shop_server(seeded, live_server) -> str:  # noqa: F811 (fixture from browser_support)
    return live_server
