"""End to end in headless Chromium: from the home page to a paid order with the manual gateway."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import create_user


def _sign_in(page, email: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "password-123")
    page.click("#login-form button[type=submit]")


@pytest.mark.browser
def test_home_page_to_paid_order(shop_server, new_page):
    create_user("shopper@example.cn")
    create_user("huaming-op@example.cn", role="operator", locations=["DL-HM"])
    external = []

    customer = new_page()
    customer.on("request", lambda r: None if r.url.startswith(shop_server) else external.append(r.url))
    customer.goto(shop_server + "/")
    customer.click("a[href='/products/line-chili']")
    expect(customer.locator("h1")).to_contain_text("线椒")
    customer.fill("input[data-sku='CHL-LINE-500G']", "2")
    customer.click("button[data-add-sku='CHL-LINE-500G']")
    expect(customer.locator(".flash.ok")).to_contain_text("已加入购物车")

    customer.click("header nav a[href='/cart']")
    expect(customer.locator("[data-sku='CHL-LINE-500G']")).to_be_visible()
    expect(customer.locator("#cart-subtotal")).to_contain_text("56.00")
    customer.click("#to-checkout")
    _sign_in(customer, "shopper@example.cn")  # checkout asks for an account; the cart is kept

    expect(customer.locator("#checkout-form")).to_be_visible()
    customer.check("input[name=delivery_type][value=pickup]")
    customer.select_option("#pickup-location", "DL-HM")
    customer.click("#place-order")
    expect(customer.locator("[data-status]")).to_have_attribute("data-status", "pending_payment")
    number = customer.locator("#order-number").inner_text().strip()
    assert re.fullmatch(r"\d{6}-\d{4}-\d{4}", number)
    order_url = customer.url
    expect(customer.locator("#order-total")).to_contain_text("56.00")

    staff = new_page()
    staff.goto(shop_server + "/staff/orders")
    _sign_in(staff, "huaming-op@example.cn")
    staff.fill("input[name=number]", number)
    staff.click("form.filters button[type=submit]")
    expect(staff.locator("#confirm-payment-form")).to_be_visible()
    staff.select_option("select[name=method]", "cash")
    staff.click("#confirm-payment")
    expect(staff.locator(".flash.ok")).to_be_visible()
    expect(staff.locator("[data-status]").first).to_have_attribute("data-status", "paid")

    customer.goto(order_url)
    expect(customer.locator("[data-status]")).to_have_attribute("data-status", "paid")
    expect(customer.locator("main")).to_contain_text("已付款")
    customer.goto(shop_server + "/orders")
    expect(customer.locator("main")).to_contain_text(number)
    assert external == []  # nothing was loaded from outside the shop
