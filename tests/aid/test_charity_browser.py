"""In headless Chromium: an aid officer records a charity sale (义卖) with a donation larger than the
amount, sees the error beside the field, corrects it; a second officer approves it on the same page.

With DOCS_SCREENSHOTS=1 the pages are saved to docs/img/ for docs/aid.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.aid.test_charity import DAY
from tests.browser_support import browser, live_server  # noqa: F401  (pytest fixtures)
from tests.conftest import create_user

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page, name: str, tmp_path: Path) -> None:
    folder = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def _sign_in(context, base: str, email: str):
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "password-123")
    page.click("#login-form button[type=submit]")
    return page


@pytest.mark.browser
def test_officer_records_a_charity_sale_and_a_colleague_approves_it(seeded, live_server, browser, tmp_path):  # noqa: F811
    create_user("officer1@aid.gov.cn", role="aid_officer")
    create_user("officer2@aid.gov.cn", role="aid_officer")
    first = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 900})
    second = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 900})
    try:
        page = _sign_in(first, live_server, "officer1@aid.gov.cn")
        page.goto(live_server + "/aid/charity")
        expect(page.locator("h1")).to_have_text("义卖（单件物品）")
        page.fill("input[name=item]", "国画《甘谷山水》")
        page.fill("input[name=buyer]", "东丽区某单位")
        page.fill("input[name=amount]", "5000")
        page.fill("input[name=donated]", "6000")
        page.select_option("select[name=producer]", "xianjiao-coop")
        page.fill("input[name=evidence]", "SJ-2026-001")
        page.fill("input[name=sold_on]", DAY.isoformat())
        page.click("#charity-form button[type=submit]")
        expect(page.locator("#donated_fen-error")).to_contain_text("不能超过成交金额")
        _shot(page, "aid-charity-error.png", tmp_path)
        page.fill("input[name=donated]", "3000")
        page.click("#charity-form button[type=submit]")
        expect(page.locator("#charity-list")).to_contain_text("SJ-2026-001")
        expect(page.locator("#charity-list")).to_contain_text("须由另一位专员审核")
        other = _sign_in(second, live_server, "officer2@aid.gov.cn")
        other.goto(live_server + "/aid/charity")
        _shot(other, "aid-charity-queue.png", tmp_path)
        other.click("#charity-list button:has-text('通过')")
        other.goto(live_server + "/aid/")
        expect(other.locator("#charity-donated")).to_have_text("¥3,000.00")
        expect(other.locator("#total")).to_have_text("¥2,000.00")
    finally:
        first.close()
        second.close()
