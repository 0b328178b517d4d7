"""The buyer's walk of issue 15 in headless Chromium, on a phone (390x844) and a desktop (1366x900):
search by pinyin, pick a hall and see that hall's stock, add to the cart, register from the checkout and
come back to it, place a pickup order, read the bank-transfer instructions, and show the pickup code as
a QR code once the hall has the order ready. Then: no main page is wider than a 360-px screen, and the
weight of the main pages (bytes, requests, nothing from outside the shop).

Screenshots for docs/storefront.md: run with ``DOCS_SCREENSHOTS=1`` to write them to docs/img/;
page weights: ``STOREFRONT_WEIGHTS=path.json`` writes the measured table there (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from shop.catalog.models import Location, Variant
from shop.core.db import atomic, db
from shop.fulfilment import services as fulfilment
from shop.inventory.models import StockLevel
from shop.orders.models import Order
from shop.payments import services as payments
from tests.conftest import create_user

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
BUDGET = 200 * 1024  # bytes per page before images (issue 15)


def _context(browser, viewport, *, mobile: bool):
    context = browser.new_context(
        locale="zh-CN", viewport=viewport, is_mobile=mobile, has_touch=mobile, device_scale_factor=1
    )
    context.set_default_timeout(15_000)
    return context


def _hall_stock(sku: str, code: str) -> int:
    level = db.session.scalar(
        select(StockLevel)
        .join(Location, Location.id == StockLevel.location_id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(Variant.sku == sku, Location.code == code)
    )
    db.session.expire_all()
    return level.on_hand - level.reserved


def _total_stock(sku: str) -> int:
    rows = db.session.scalars(
        select(StockLevel).join(Variant, Variant.id == StockLevel.variant_id).where(Variant.sku == sku)
    )
    return sum(r.on_hand - r.reserved for r in rows)


def _shot(page, path: Path, phone: bool, top: str) -> None:
    """A phone screenshot is what the screen shows from ``top`` (the tab bar stays at the bottom); a
    desktop one is the whole page."""
    if phone:
        page.locator(top).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)


@pytest.mark.browser
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_buyer_walk_from_pinyin_search_to_qr_pickup_code(shop_server, browser, size, tmp_path):
    shots = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else tmp_path
    phone = size == "phone"
    context = _context(browser, PHONE if phone else DESKTOP, mobile=phone)
    page = context.new_page()
    outside = []
    page.on("request", lambda r: None if r.url.startswith(shop_server) else outside.append(r.url))
    try:
        # 1. Search by pinyin from the search box every page has.
        page.goto(shop_server + "/")
        page.fill("header form.search input[name=q]", "pingguo")
        page.press("header form.search input[name=q]", "Enter")
        expect(page.locator("#results")).to_contain_text("花牛苹果")
        expect(page.locator("h1")).to_contain_text("pingguo")
        page.screenshot(path=str(shots / f"storefront-{size}-search.png"))
        page.click("#results a.card-link >> nth=0")
        expect(page.locator("h1")).to_contain_text("苹果")

        # 2. Pick a hall: the options show that hall's stock, not the sum over every location.
        sku = page.locator("li.option").first.get_attribute("data-variant")
        page.select_option("#hall-choice", "DL-HM")  # applies at once (storefront.js)
        expect(page.locator("#availability-where")).to_contain_text("华明")
        at_hall = _hall_stock(sku, "DL-HM")
        assert at_hall < _total_stock(sku)
        expect(page.locator(f"li.option[data-variant='{sku}'] .avail")).to_have_attribute(
            "data-available", str(at_hall)
        )
        assert page.locator(f"input[data-sku='{sku}']").get_attribute("max") == str(min(at_hall, 999))

        # 3. Add two with the stepper; the tab bar's badge (phone) counts them.
        page.click(f"li.option[data-variant='{sku}'] button.step[data-step='1']")
        expect(page.locator(f"input[data-sku='{sku}']")).to_have_value("2")
        page.screenshot(path=str(shots / f"storefront-{size}-product.png"), full_page=not phone)
        page.click(f"button[data-add-sku='{sku}']")
        expect(page.locator(".flash.ok")).to_contain_text("已加入购物车")
        if phone:
            expect(page.locator("nav.tabbar #cart-count")).to_have_text("2")
            page.click("nav.tabbar #tab-cart")
        else:
            page.click("header nav a[href='/cart']")
        expect(page.locator(f"[data-sku='{sku}']")).to_be_visible()
        expect(page.locator("#hall-choice")).to_have_value("DL-HM")  # the cart remembers the hall
        page.screenshot(path=str(shots / f"storefront-{size}-cart.png"))

        # 4. Checkout asks for an account: register from there and come back to the checkout.
        page.click("#to-checkout")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Fcheckout|/login\?next=/checkout"))
        page.click("#to-register")
        page.fill("input[name=name]", "王芳")
        page.fill("input[name=email]", f"wangfang-{size}@example.cn")
        page.fill("input[name=password]", "password-123")
        page.click("main form button[type=submit]")
        expect(page).to_have_url(re.compile(r"/checkout$"))
        expect(page.locator("#checkout-form")).to_be_visible()
        expect(page.locator("input[name=delivery_type][value=pickup]")).to_be_checked()
        expect(page.locator("#pickup-location")).to_have_value("DL-HM")
        expect(page.locator("#aid-summary")).to_contain_text("计入")
        _shot(page, shots / f"storefront-{size}-checkout.png", phone, "h1")

        # 5. Place the pickup order: the bank-transfer instructions with account, amount, reference, hold.
        page.click("#place-order")
        expect(page.locator("#order-number")).to_be_visible()
        number = page.locator("#order-number").inner_text().strip()
        order = db.session.scalar(select(Order).where(Order.number == number))
        assert order.pickup_location.code == "DL-HM" and order.location.code == "DL-HM"
        box = page.locator("#transfer-instructions")
        expect(box.locator("#bank-account-number")).not_to_be_empty()
        expect(box.locator("#transfer-amount")).to_contain_text(f"{order.total_fen // 100}.")
        expect(box.locator("#transfer-reference")).to_have_text(number)
        expect(box.locator("#transfer-hold")).to_contain_text("北京时间")
        expect(page.locator("#timeline li[data-step=placed]")).to_have_class(re.compile("done"))
        _shot(page, shots / f"storefront-{size}-transfer.png", phone, "#order-number")

        # 6. The hall confirms the transfer and gets the order ready: the code, large and as a QR code.
        staff = create_user(f"hm-{size}@example.cn", role="operator", locations=["DL-HM"])
        with atomic():
            payments.confirm_manual_payment(order.id, staff=staff, method="transfer", reference=number)
        with atomic():
            fulfilment.pick_order(order.id)
        with atomic():
            fulfilment.prepare_handover(order.id)
        page.reload()
        expect(page.locator("#pickup-code")).to_have_text(re.compile(r"^\d{6}$"))
        qr = page.locator("#pickup-qr")
        expect(qr).to_be_visible()
        assert page.evaluate("document.getElementById('pickup-qr').naturalWidth") > 0
        resp = page.request.get(shop_server + qr.get_attribute("src"))
        assert resp.status == 200 and resp.headers["content-type"].startswith("image/svg+xml")
        expect(page.locator("#timeline li[data-step=ready_for_pickup]")).to_have_class(re.compile("done"))
        _shot(page, shots / f"storefront-{size}-pickup-code.png", phone, "#timeline")
        assert outside == []  # nothing was loaded from outside the shop
    finally:
        context.close()


def _pages(base: str, product: str) -> dict[str, str]:
    return {
        "home": "/",
        "list": "/products",
        "search": "/products?q=pg",
        "product": f"/products/{product}",
        "categories": "/categories",
        "cart": "/cart",
        "checkout": "/checkout",
        "me": "/me",
        "addresses": "/account/addresses",
        "progress": "/aid/progress",
    }


@pytest.mark.browser
def test_no_main_page_is_wider_than_a_360_px_phone_and_pages_stay_light(shop_server, browser):
    create_user("narrow@example.cn")
    context = _context(browser, {"width": 360, "height": 740}, mobile=True)
    page = context.new_page()
    outside: list[str] = []
    weights: dict[str, dict] = {}
    page.on("request", lambda r: None if r.url.startswith(shop_server) else outside.append(r.url))
    # Weigh every page as a first visit: no HTTP cache between pages.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    weigh = """() => {
        const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
        const img = e => e.initiatorType === 'img' || /\\.(png|jpe?g|webp|gif)(\\?|$)/.test(e.name);
        return {
            bytes: all.filter(e => !img(e)).reduce((n, e) => n + e.decodedBodySize, 0),
            image_bytes: all.filter(img).reduce((n, e) => n + e.decodedBodySize, 0),
            requests: all.length,
        };
    }"""
    too_wide = {}

    def visit(name: str, path: str) -> None:
        page.goto(shop_server + path)
        page.wait_for_load_state("load")
        assert page.url.startswith(shop_server + path.split("?")[0]), (name, page.url)
        weights[name] = page.evaluate(weigh)
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        if width > 360:
            too_wide[name] = width

    try:
        for name in ("login", "register"):  # before signing in (a signed-in buyer is sent on)
            visit(name, f"/{name}")
        # Sign in and fill the cart so the cart and checkout pages show what a buyer sees.
        page.goto(shop_server + "/login")
        page.fill("input[name=email]", "narrow@example.cn")
        page.fill("input[name=password]", "password-123")
        page.click("#login-form button[type=submit]")
        page.goto(shop_server + "/products/line-chili")
        page.click("button[data-add-sku='CHL-LINE-500G']")
        expect(page.locator(".flash.ok")).to_be_visible()
        for name, path in _pages(shop_server, "line-chili").items():
            visit(name, path)
        assert too_wide == {}, f"pages wider than a 360-px screen: {too_wide}"
        assert outside == []
        for name in ("home", "list", "product", "cart", "checkout"):
            assert weights[name]["bytes"] < BUDGET, (name, weights[name])
        print("page weights:", json.dumps(weights, ensure_ascii=False))
        if os.environ.get("STOREFRONT_WEIGHTS"):
            Path(os.environ["STOREFRONT_WEIGHTS"]).write_text(json.dumps(weights, indent=1))
    finally:
        context.close()
