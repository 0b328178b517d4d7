"""Shared fixtures for browser tests: the app served on a free port, and headless Debian Chromium.

Use them from a test module::

    from tests.browser_support import browser, live_server, page  # noqa: F401  (pytest fixtures)

    @pytest.mark.browser
    def test_something(live_server, page):
        page.goto(live_server + "/")

Chromium is the system one (``/usr/bin/chromium``, installed by ``scripts/browser.sh`` from
``scripts/test.sh``); Playwright never downloads a browser. The browser is kept off the network: every
host name except 127.0.0.1 fails to resolve.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """Serve ``app`` (PostgreSQL, empty tables) from this process on a free port; yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module.

    Module scope, not session: Playwright's sync API runs an event loop while it is open, and a second
    ``sync_playwright()`` in the same process (another module's fixture) refuses to start inside it.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (scripts/test.sh does) to install it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh browser context (Chinese, tablet-sized) and page; a screenshot is kept when the test fails."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:  # the call phase is reported before teardown
        shot = tmp_path / "failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page: {shot}")
    context.close()


def login(page, base_url: str, email: str, password: str) -> None:
    """Sign in through the login form."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("load")
