"""Done when (in Chromium, phone-sized, Chinese): a producer signs in, sees this month's sales and its
statements, opens last month's statement, reads what is payable and the bank reference, and downloads
the PDF. Run with ``DOCS_SCREENSHOTS=1`` to write the screenshots of docs/producers.md to docs/img/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import update

from shop.accounts.models import User
from shop.core.db import atomic, db
from shop.producers import settlement
from tests.browser_support import browser, live_server, login  # noqa: F401  (pytest fixtures)
from tests.conftest import create_user
from tests.producers.helpers import (
    counter_sale,
    month_moment,
    paid_order,
    period,
    producer_of,
    refund,
    staff_user,
)

CHILI = "CHL-LINE-500G"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.mark.browser
def test_a_producer_reads_its_statement_on_a_phone(shop, live_server, browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    shots = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    chili = producer_of(CHILI)
    order = paid_order([(CHILI, 3)], at=month_moment(1, day=8))
    counter_sale([(CHILI, 2)], at=month_moment(1, day=15))
    refund(order, at=month_moment(1, day=20), lines=[{"sku": CHILI, "quantity": 1}])
    paid_order([(CHILI, 1)], at=month_moment(0, day=1))
    settlement.run_settlement(period(1))
    with atomic():
        settlement.approve_statement(period(1), chili.code, actor=staff_user())
        settlement.record_payout(period(1), chili.code, reference="ICBC-20261105-88", actor=staff_user())
    st = settlement.get_statement(period(1), chili.code)
    user = create_user("coop@gangu.cn", role="customer")
    with atomic():
        db.session.execute(
            update(User).where(User.id == user.id).values(role="producer", producer_id=chili.id)
        )

    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        login(page, live_server, "coop@gangu.cn", "password-123")
        assert page.url.rstrip("/").endswith("/producer")
        expect(page.locator("h1")).to_have_text(chili.name_zh)
        expect(page.locator("#month-sales")).to_contain_text("本月")
        page.screenshot(path=str(shots / "producer-portal.png"), full_page=True)
        page.click(f"#statements a:has-text('{period(1)}')")
        expect(page.locator("#statement-status")).to_have_text("已付款")
        payable = f"¥{st.payable_fen // 100:,}.{st.payable_fen % 100:02d}"
        expect(page.locator("#payable")).to_have_text(payable)
        expect(page.locator("body")).to_contain_text("ICBC-20261105-88")
        expect(page.locator("#statement-lines li")).to_have_count(3)
        expect(page.locator("#statement-lines")).to_contain_text("退款")
        # Nothing sticks out of a phone's width.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(shots / "producer-statement.png"), full_page=True)
        with page.expect_download() as download:
            page.click("a[href$='/pdf']")
        pdf = Path(download.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF-")
    finally:
        context.close()
