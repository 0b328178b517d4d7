"""Fixtures for the order tests. Browser tests: the seeded shop served on a free port, headless Debian
Chromium driven by Playwright (never a downloaded browser), kept off the network.

``scripts/browser.sh`` (run by ``scripts/test.sh``) installs ``chromium chromium-driver
fonts-wqy-microhei`` with apt when they are missing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture
def shop_server(seeded) -> Iterator[str]:
    """Serve the seeded app from this process on a free port; yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, seeded, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="shop-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium, request, tmp_path):
    """Open pages in fresh contexts (one per person); screenshots are kept when the test fails."""
    contexts = []

    def make():
        context = chromium.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
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
