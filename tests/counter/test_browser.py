"""The hall counter in headless Chromium: selling offline, reloading offline, replaying; taps per sale.

With DOCS_SCREENSHOTS=1 the pages are saved to docs/img/ for docs/inventory.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shop.core.db import atomic, db
from shop.inventory.models import CounterSale
from shop.inventory.services import reconcile
from tests.browser_support import browser, live_server, login, page  # noqa: F401
from tests.inventory.factories import OP_HM, PASSWORD, level, put

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shots(tmp_path: Path) -> Path:
    return DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else tmp_path


def _open_counter(tab, base: str, email: str, password: str, code: str) -> None:
    from playwright.sync_api import expect

    login(tab, base, email, password)
    tab.goto(f"{base}/counter/{code}/")
    expect(tab.locator("body")).to_have_attribute("data-ready", "1")
    tab.wait_for_function("navigator.serviceWorker.controller !== null")


def _sell(tab, lines: dict[str, int], pay: str) -> None:
    from playwright.sync_api import expect

    for sku, qty in lines.items():
        for _ in range(qty):
            tab.click(f".c-product[data-sku='{sku}']")
    tab.click(f"#pay-{pay}")
    tab.click("#record-sale")
    expect(tab.locator("#receipt")).to_be_visible()


@pytest.mark.browser
def test_sales_made_offline_survive_a_reload_and_are_replayed_once(world, live_server, page, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    put("SHOE-1", "DL-HM", 3)
    put("APL-5KG", "DL-HM", 5)
    shots = _shots(tmp_path)
    _open_counter(page, live_server, OP_HM, PASSWORD, "DL-HM")
    waiting = page.locator("#queue-status")

    page.context.set_offline(True)
    expect(page.locator("#net-status")).to_have_class("c-pill warn")
    _sell(page, {"SHOE-1": 1}, "cash")
    _sell(page, {"APL-5KG": 2}, "wechat")
    _sell(page, {"SHOE-1": 1}, "alipay")
    # The tablet believes one shoe is left; a sale of two is kept, with a warning, for the server to judge.
    page.click(".c-product[data-sku='SHOE-1']")
    page.click(".c-product[data-sku='SHOE-1']")
    expect(page.locator("#sale-warning")).not_to_be_empty()
    page.click("#pay-cash")
    page.click("#record-sale")
    expect(waiting).to_have_attribute("data-waiting", "4")
    expect(page.locator("#receipt-time")).to_contain_text("北京时间")
    page.screenshot(path=str(shots / "counter-offline-sale.png"))
    assert db.session.scalar(select(func.count()).select_from(CounterSale)) == 0

    page.reload()  # still offline: the service worker serves the page, IndexedDB the catalogue and queue
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(waiting).to_have_attribute("data-waiting", "4")
    expect(page.locator(".c-product[data-sku='APL-5KG']")).to_be_visible()
    page.click("a[href='/counter/DL-HM/day']")  # needs the network: the tablet says so and stays
    expect(page.locator("#search-error")).to_contain_text("需要网络")
    page.click("button[data-view='today']")
    expect(page.locator("#today-sales tr")).to_have_count(4)
    page.screenshot(path=str(shots / "counter-offline-today.png"))

    page.context.set_offline(False)
    expect(waiting).to_have_attribute("data-waiting", "0", timeout=30_000)
    expect(page.locator("#task-count")).to_have_text("1")
    page.click("button[data-view='tasks']")
    expect(page.locator(".c-task")).to_have_count(1)
    expect(page.locator(".c-task")).to_contain_text("196.00")
    expect(page.locator(".c-task")).to_contain_text("本馆库存不足")
    page.screenshot(path=str(shots / "counter-refused-task.png"))

    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CounterSale)) == 3
    assert level("SHOE-1", "DL-HM") == (1, 0) and level("APL-5KG", "DL-HM") == (3, 0)
    assert reconcile() == []
    # The refused sale stays a task until the operator settles it.
    page.click(".c-task button:nth-of-type(2)")
    expect(page.locator("#task-count")).to_have_text("0")


@pytest.mark.browser
def test_one_item_sale_takes_three_taps_without_scrolling(app, live_server, page, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    from shop.catalog.services import get_location, variant_by_sku
    from shop.demo import seed_demo
    from shop.inventory.services import add_stock
    from tests.conftest import create_user

    with atomic():
        seed_demo()
        add_stock(variant_by_sku("SHOE-HEMP-40"), get_location("DL-HM"), 10, kind="receipt", lot_code="M")
    create_user("op-taps@example.cn", role="operator", locations=["DL-HM"])
    _open_counter(page, live_server, "op-taps@example.cn", "password-123", "DL-HM")
    assert page.viewport_size == {"width": 1024, "height": 768}
    assert page.locator(".c-product").count() >= 10

    taps = 0
    for selector in (".c-product[data-sku='SHOE-HEMP-40']", "#pay-cash", "#record-sale"):
        for fixed in ("#record-sale", "#cart-total"):
            box = page.locator(fixed).bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= 768, fixed
        page.click(selector)
        taps += 1
    expect(page.locator("#receipt")).to_be_visible()
    assert taps == 3
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    expect(page.locator("#queue-status")).to_have_attribute("data-waiting", "0")
    page.screenshot(path=str(_shots(tmp_path) / "counter-home.png"))
    db.session.expire_all()
    sale = db.session.scalar(select(CounterSale))
    assert sale is not None and sale.paid_with == "cash" and [ln.quantity for ln in sale.lines] == [1]
