"""Fixtures for the order tests. Browser tests: the seeded shop served on a free port, headless Debian
Chromium driven by Playwright (never a downloaded browser), kept off the network.

``scripts/browser.sh`` (run by ``scripts/test.sh``) installs ``chromium chromium-driver
fonts-wqy-microhei`` with apt when they are missing.
"""

from __future__ import annotations

import pytest

# The server and browser come from the shared browser fixtures (one Chromium per module).
from tests.browser_support import browser, live_server  # noqa: F401


@pytest.fixture
def shop_server(seeded, live_server) -> str:  # noqa: F811 (fixture from browser_support)
    """The seeded shop served on a free port."""
    return live_server


@pytest.fixture
def new_page(browser, request, tmp_path):  # noqa: F811 (fixture from browser_support)
    """Open pages in fresh contexts (one per person); screenshots are kept when the test fails."""
    contexts = []

    def make():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    failed_before = request.session.testsfailed
    yield make
    if request.session.testsfailed > failed_before:
        for i, context in enumerate(contexts):
            for j, tab in enumerate(context.pages):
                shot = tmp_path / f"failure-{i}-{j}.png"
                tab.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of a failed page: {shot}")
    for context in contexts:
        context.close()
