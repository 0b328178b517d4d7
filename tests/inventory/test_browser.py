"""A hall operator records a counter sale on the console in headless Chromium."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.core import clock
from shop.core.db import db
from shop.inventory.models import CounterSale
from shop.inventory.services import reconcile
from tests.browser_support import browser, live_server, login, page  # noqa: F401
from tests.inventory.factories import OP_HM, PASSWORD, level, put


@pytest.mark.browser
def test_operator_records_a_counter_sale_from_the_console(world, live_server, page, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    put("SHOE-1", "DL-HM", 5)
    put("APL-5KG", "DL-HM", 4, lot="HN-0901", best_before=clock.today() + timedelta(days=20))

    login(page, live_server, OP_HM, PASSWORD)
    expect(page).to_have_url(re.compile(r"/console/DL-HM/$"))
    expect(page.locator("h1")).to_contain_text("华明馆")
    expect(page.locator("table")).to_contain_text("HN-0901")

    page.get_by_role("link", name="柜台销售").click()
    row = page.locator("tr", has=page.locator("#qty-SHOE-1"))
    row.get_by_role("button", name="加一").click()
    row.get_by_role("button", name="加一").click()
    page.fill("#qty-APL-5KG", "1")
    expect(page.locator("#sale-total")).to_have_text("264.00")  # 2 × 98 + 68, totalled by console.js
    page.get_by_label("微信支付").check()
    page.screenshot(path=str(tmp_path / "sale.png"), full_page=True)
    page.click("#record-sale")

    expect(page).to_have_url(re.compile(r"/console/DL-HM/sales/\d+$"))
    expect(page.locator(".flash.ok")).to_contain_text("销售已记录")
    expect(page.locator("#receipt-total")).to_have_text("264.00")
    page.screenshot(path=str(tmp_path / "receipt.png"), full_page=True)

    assert level("SHOE-1", "DL-HM") == (3, 0) and level("APL-5KG", "DL-HM") == (3, 0)
    sale = db.session.scalar(select(CounterSale))
    assert sale.paid_with == "wechat" and sale.total_fen == 26400 and sale.operator_id is not None
    assert reconcile() == []
