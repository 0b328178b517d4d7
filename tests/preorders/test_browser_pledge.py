"""On a phone, a buyer opens the shared campaign page, signs in, pledges for pickup at a hall and lands on
the order to pay; once paid the progress bar counts the units (pledged and paid, nothing else)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from shop.core.db import atomic
from shop.payments.services import confirm_manual_payment
from tests.conftest import create_user
from tests.preorders.helpers import admin, campaign

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.mark.browser
def test_a_buyer_pledges_from_the_shared_campaign_page_on_a_phone(seeded, live_server, phone):
    campaign("HN-2026", cap=100, per_buyer=5)
    create_user("fan@example.cn")
    external: list[str] = []
    phone.on("request", lambda r: None if r.url.startswith(live_server) else external.append(r.url))

    phone.goto(f"{live_server}/campaigns/HN-2026")
    expect(phone.locator("h1")).to_contain_text("花牛苹果 2026 认购")
    expect(phone.locator("#paid-units")).to_have_text("0")
    expect(phone.locator("#remaining-units")).to_have_text("100")
    # The share card: Open Graph tags for chat apps and a QR code drawn by the shop itself.
    assert "花牛苹果" in phone.locator("meta[property='og:title']").get_attribute("content")
    qr = phone.request.get(f"{live_server}/campaigns/HN-2026/qr.svg")
    assert (
        qr.status == 200 and qr.headers["content-type"].startswith("image/svg+xml") and b"<svg" in qr.body()
    )
    expect(phone.locator("#share-card img.qr")).to_be_visible()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(DOCS_IMG / "preorders-campaign-phone.png"), full_page=True)

    phone.click("#sign-in-to-pledge")
    phone.fill("input[name=email]", "fan@example.cn")
    phone.fill("input[name=password]", "password-123")
    phone.click("#login-form button[type=submit]")
    expect(phone.locator("#pledge-form")).to_be_visible()

    # A wrong quantity is answered beside the field, in Chinese, and nothing is pledged.
    phone.fill("#pledge-quantity", "9")
    phone.check("input[name=delivery_type][value=pickup]")
    phone.select_option("#pickup-location", "DL-HM")
    phone.click("#pledge-submit")
    expect(phone.locator("#pledge-form .field-error").first).to_be_visible()
    expect(phone.locator("#paid-units")).to_have_text("0")
    expect(phone.locator("#remaining-units")).to_have_text("100")

    phone.fill("#pledge-quantity", "2")
    phone.click("#pledge-submit")
    expect(phone.locator("[data-status]")).to_have_attribute("data-status", "pending_payment")
    expect(phone.locator("#order-total")).to_contain_text("120.00")
    phone.screenshot(path=str(DOCS_IMG / "preorders-pledged-phone.png"), full_page=True)
    order_id = int(phone.url.rstrip("/").split("/")[-1])

    # Pledged but unpaid: the bar does not move (the units are held, not counted as committed).
    phone.goto(f"{live_server}/campaigns/HN-2026")
    expect(phone.locator("#paid-units")).to_have_text("0")
    expect(phone.locator("#remaining-units")).to_have_text("98")
    with atomic():
        confirm_manual_payment(order_id, staff=admin(), method="cash")
    phone.reload()
    expect(phone.locator("#paid-units")).to_have_text("2")

    phone.goto(f"{live_server}/pledges")
    expect(phone.locator(".pledge-status").first).to_contain_text("已付款")
    assert external == [], external
