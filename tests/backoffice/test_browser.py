"""Done when (in Chromium): an admin, starting from an empty catalogue on the embedded default, onboards a
producer with a certificate, creates a product with two variants and a photo, opens a fair booth for
three days and assigns an operator; the operator receives the goods and a customer orders the product.

The screenshots of docs/back-office.md are taken here: run with ``DOCS_SCREENSHOTS=1`` to write them to
docs/img/ (otherwise they go to the test's temporary folder).
"""

from __future__ import annotations

import io
import os
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from shop.backoffice import illustrations
from shop.core import clock
from shop.core.db import db
from shop.media.models import ProductImage
from shop.orders.models import Order
from tests.backoffice.helpers import operator_without_location
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, login
from tests.conftest import create_user
from tests.media import files

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def embedded_server(sqlite_app):
    """The embedded default (SQLite, file broker) served on a free port, running the outbox's tasks
    right after each commit, as its worker would."""
    from werkzeug.serving import make_server

    settings = sqlite_app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    server = make_server("127.0.0.1", 0, sqlite_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        settings.OUTBOX_DELIVERY = "celery"


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/browser.sh`")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.slow
def test_admin_onboards_a_producer_and_a_customer_orders_at_the_fair_booth(
    embedded_server, chromium, tmp_path
):
    from playwright.sync_api import expect

    base = embedded_server
    shots = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    create_user("admin@dongli.example.cn", role="admin")
    operator_without_location("booth-op@dongli.example.cn", name="李展位")
    today = clock.today()
    photo = tmp_path / "IMG_2231.JPG"
    photo.write_bytes(files.photo_of(illustrations.draw("dahongpao-pepper")))
    scan = tmp_path / "certificate.pdf"
    scan.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    external: list[str] = []

    def new_page(width=1280, height=900):
        context = chromium.new_context(locale="zh-CN", viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on("request", lambda r: None if r.url.startswith(base) else external.append(r.url))
        return page

    admin = new_page()  # an office PC
    login(admin, base, "admin@dongli.example.cn", "password-123")
    admin.goto(base + "/admin/")
    expect(admin.locator("h1")).to_have_text("后台管理")

    # A category for the first product.
    admin.click("nav.tabs >> text=产品")
    admin.fill("#category-form #f-code", "pepper")
    admin.fill("#category-form #f-name", "花椒")
    admin.fill("#category-form #f-name_en", "Sichuan pepper")
    admin.click("#add-category")
    expect(admin.locator(".flash.ok")).to_contain_text("类别 pepper 已添加")

    # 1. The producer: a first try shows what is missing next to each field, in Chinese.
    admin.click("nav.tabs >> text=生产主体")
    admin.click("#new-producer")
    admin.fill("#f-code", "Xiping Pepper")
    admin.fill("#f-name", "西坪镇花椒专业合作社")
    admin.click("#save-producer")
    expect(admin.locator("#e-township")).to_have_text("必填")
    expect(admin.locator("#e-code")).to_have_text("只能用小写字母、数字和短横线，2 到 60 个字符")
    expect(admin.locator("#f-name")).to_have_value("西坪镇花椒专业合作社")  # what was typed stays
    admin.screenshot(path=str(shots / "backoffice-producer-errors.png"))
    admin.fill("#f-code", "xiping-pepper")
    admin.select_option("#f-township", "西坪镇")
    admin.fill("#f-village", "西坪村")
    admin.fill("#f-linked_households", "57")
    admin.fill("#f-linked_people", "213")
    admin.fill("#f-benefit_mechanism", "保底价收购贫困户花椒，年底按交售量二次分红")
    admin.click("#save-producer")
    expect(admin.locator(".flash.ok")).to_contain_text("已登记")

    # ... and its certificate, with the scanned document.
    admin.fill("#certificate-form #f-number", "GGFP-2026-101")
    admin.fill("#certificate-form #f-valid_from", (today - timedelta(days=30)).isoformat())
    admin.fill("#certificate-form #f-valid_until", (today + timedelta(days=25)).isoformat())
    admin.set_input_files("#certificate-form #f-file", str(scan))
    admin.click("#add-certificate")
    expect(admin.locator(".flash.ok")).to_contain_text("GGFP-2026-101")
    expect(admin.locator("#certificates + table")).to_contain_text("30 天内到期")
    expect(admin.get_by_role("link", name="查看扫描件")).to_be_visible()
    admin.screenshot(path=str(shots / "backoffice-producer.png"), full_page=True)

    # 2. The product with two variants, then its photo.
    admin.click("text=为该生产主体添加商品")
    admin.fill("#f-name", "西坪大红袍花椒")
    admin.fill("#f-name_en", "Xiping Dahongpao Sichuan pepper")
    admin.select_option("#f-category", "pepper")
    admin.fill("#f-description", "七月采摘，粒大色红，麻香浓郁。")
    for i, (sku, name, price) in enumerate(
        [("XP-DHP-250G", "大红袍花椒 250克", "45"), ("XP-DHP-500G", "大红袍花椒 500克", "85.00")]
    ):
        admin.fill(f"#f-variants-{i}-sku", sku)
        admin.fill(f"#f-variants-{i}-name", name)
        admin.fill(f"#f-variants-{i}-price", price)
        admin.fill(f"#f-variants-{i}-unit", "袋")
        admin.fill(f"#f-variants-{i}-weight_grams", "260" if i == 0 else "510")
        admin.check(f"input[name='variants.{i}.perishable']")
    admin.screenshot(path=str(shots / "backoffice-product-new.png"), full_page=True)
    admin.click("#create-product")
    expect(admin.locator(".flash.ok")).to_contain_text("商品已上架")
    admin.set_input_files("#image-form #f-file", str(photo))
    admin.click("#upload-photo")
    expect(admin.locator(".flash.ok")).to_contain_text("照片已上传")
    admin.reload()  # the worker made the renditions right after the upload's commit
    expect(admin.locator(".gallery-item img")).to_have_count(1)
    expect(admin.locator(".gallery-item")).to_contain_text("封面")
    row = admin.locator("tr[data-sku='XP-DHP-250G']")
    row.locator("input[name=price]").fill("48")
    row.get_by_role("button", name="保存").click()
    expect(admin.locator(".flash.ok")).to_contain_text("新价格只适用于此后下的订单")
    expect(admin.locator("#prices + table")).to_contain_text("¥45.00")
    admin.screenshot(path=str(shots / "backoffice-product.png"), full_page=True)
    db.session.rollback()
    image = db.session.scalar(select(ProductImage))
    assert image.status == "ready" and (image.width, image.height) == (960, 720)  # turned upright

    # 3. The fair booth, open today and the next two days; 4. its operator.
    admin.click("nav.tabs >> text=展卖馆与展位")
    admin.click("#new-location")
    admin.fill("#f-code", "fair-xp")
    admin.select_option("#f-kind", "fair")
    admin.fill("#f-name", "消费帮扶展销会甘谷展位")
    admin.fill("#f-district", "东丽区")
    admin.fill("#f-address", "东丽区体育中心一号馆")
    admin.fill("#f-opens_on", today.isoformat())
    admin.fill("#f-closes_on", (today + timedelta(days=2)).isoformat())
    admin.fill("#f-opening_hours", "09:00-17:00")
    admin.click("#save-location")
    expect(admin.locator(".flash.ok")).to_contain_text("FAIR-XP 已开设")
    admin.select_option("#operator-form #f-email", "booth-op@dongli.example.cn")
    admin.click("#assign-operator")
    expect(admin.locator("#operators + table")).to_contain_text("李展位")
    admin.screenshot(path=str(shots / "backoffice-location.png"), full_page=True)

    # The programme page (the district's target for the year).
    admin.click("nav.tabs >> text=帮扶计划")
    admin.click("#new-programme")
    admin.fill("#f-code", f"DL-GG-{today.year}")
    admin.fill("#f-starts_on", f"{today.year}-01-01")
    admin.fill("#f-ends_on", f"{today.year}-12-31")
    admin.fill("#f-name", f"{today.year}年东丽区对口帮扶甘谷县消费帮扶")
    admin.fill("#f-target", "60000000")
    admin.fill("#f-note", "目标由区商务局确定。")
    admin.fill("#f-channel_targets-fair", "5000000")
    admin.fill("[id='f-township_targets-西坪镇']", "1000000")
    admin.click("#save-programme")
    expect(admin.locator(".flash.ok")).to_contain_text("已设立")
    admin.screenshot(path=str(shots / "backoffice-programme.png"), full_page=True)
    admin.goto(base + "/admin/")
    expect(admin.locator("#expiring + table")).to_contain_text("GGFP-2026-101")
    admin.screenshot(path=str(shots / "backoffice-home.png"), full_page=True)

    # The operator, on a hall tablet, receives the goods at the booth.
    operator = new_page(1024, 768)
    login(operator, base, "booth-op@dongli.example.cn", "password-123")
    operator.goto(base + "/console/FAIR-XP/receive")
    operator.select_option("select[name=sku]", "XP-DHP-250G")
    operator.fill("input[name=quantity]", "30")
    operator.fill("input[name=lot]", "XP-0701")
    operator.fill("input[name=best_before]", (today + timedelta(days=300)).isoformat())
    operator.click("form.stack button[type=submit]")
    expect(operator.locator(".flash.ok")).to_be_visible()

    # A customer on a phone finds the product with its photo and orders it for pickup at the booth.
    customer = new_page(390, 844)
    customer.goto(base + "/register")
    customer.fill("input[name=name]", "王芳")
    customer.fill("input[name=email]", "wangfang@tianjin.example.cn")
    customer.fill("input[name=password]", "password-123")
    customer.click("form.stack button[type=submit]")
    customer.goto(base + "/products/xiping-dahongpao-sichuan-pepper")
    expect(customer.locator("h1")).to_contain_text("西坪大红袍花椒")
    customer.fill("input[data-sku='XP-DHP-250G']", "2")
    customer.click("button[data-add-sku='XP-DHP-250G']")
    expect(customer.locator(".flash.ok")).to_be_visible()
    customer.goto(base + "/cart")
    customer.click("#to-checkout")
    customer.check("input[name=delivery_type][value=pickup]")
    customer.select_option("#pickup-location", "FAIR-XP")
    customer.click("#place-order")
    expect(customer.locator("[data-status]")).to_have_attribute("data-status", "pending_payment")
    expect(customer.locator("#order-total")).to_contain_text("96.00")  # the new price: 2 × 48

    db.session.rollback()  # read what the server committed
    order = db.session.scalar(select(Order))
    assert order.total_fen == 9600 and order.status == "pending_payment"
    rendition = admin.request.get(base + f"/media/products/{image.key}/480.webp")
    with Image.open(io.BytesIO(rendition.body())) as im:
        assert im.format == "WEBP" and not im.getexif()
    assert re.search(r"immutable", rendition.headers["cache-control"])
    assert external == []  # nothing loaded from outside the shop
