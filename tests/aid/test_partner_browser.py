"""In headless Chromium: an aid officer uploads a platform's sales file, watches the page count it,
sees the rejected row and the by-platform chart on the dashboard.

With DOCS_SCREENSHOTS=1 the pages are saved to docs/img/ for docs/aid.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from shop.aid import imports
from tests.browser_support import browser, live_server  # noqa: F401  (pytest fixtures)
from tests.conftest import create_user

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMG = ROOT / "docs" / "img"
SAMPLE = ROOT / "docs" / "samples" / "partner-sales-sample.csv"


def _shot(page, name: str, tmp_path: Path) -> None:
    folder = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


@pytest.mark.browser
def test_officer_uploads_watches_and_sees_rejected_rows(seeded, live_server, browser, tmp_path):  # noqa: F811
    create_user("officer@aid.gov.cn", role="aid_officer")
    upload = tmp_path / "tmall-march.csv"
    upload.write_text(SAMPLE.read_text(encoding="utf-8") + "TM20260320001,1,2026-03-20,CHL-XX,1,100\n")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server + "/login")
        page.fill("input[name=email]", "officer@aid.gov.cn")
        page.fill("input[name=password]", "password-123")
        page.click("#login-form button[type=submit]")
        page.goto(live_server + "/aid/imports")
        expect(page.locator("h1")).to_have_text("合作电商平台销售")
        page.select_option("select[name=platform]", "GG-TMALL")
        page.set_input_files("input[name=file]", str(upload))
        page.click("#import-form button[type=submit]")
        expect(page.locator("#import-progress")).to_contain_text("正在统计")
        _shot(page, "aid-import-running.png", tmp_path)
        import_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        imports.process_import(import_id)  # the worker's part
        expect(page.locator("#import-progress")).to_contain_text("已完成", timeout=20_000)
        expect(page.locator("#accepted")).to_have_text("5")
        expect(page.locator("#rejected-rows")).to_contain_text("unknown SKU 'CHL-XX'")
        _shot(page, "aid-import-done.png", tmp_path)
        page.goto(live_server + "/aid/")
        expect(page.locator("#chart-platform")).to_be_visible()
    finally:
        context.close()
