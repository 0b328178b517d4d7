"""Done when (through the API): an admin, starting from an empty catalogue on the embedded default,
onboards a producer with a certificate, creates a product with two variants and a photo, opens a fair
booth for three days, assigns an operator, and a customer then orders that product."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.catalog.models import Product
from shop.core import clock
from shop.core.db import db
from tests.backoffice.helpers import operator_without_location, upload
from tests.conftest import ApiClient, create_user
from tests.media import files


def test_from_an_empty_catalogue_to_a_customers_order_through_the_api(sqlite_app):
    settings = sqlite_app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"  # what the embedded default's worker does right after each commit
    try:
        _walk(sqlite_app)
    finally:
        settings.OUTBOX_DELIVERY = "celery"


def _walk(app):
    client = app.test_client()
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    assert client.get("/api/v1/products").json["items"] == []
    create_user("admin@dongli.example.cn", role="admin")
    operator_without_location("booth-op@dongli.example.cn")  # made before, assigned below
    admin = ApiClient(client).as_user("admin@dongli.example.cn")
    today = clock.today()

    # A programme to count the sales in, and the category the product goes in.
    r = admin.post(
        "/api/v1/aid/programmes",
        json={
            "code": f"DL-GG-{today.year}",
            "name": f"{today.year}年东丽区对口帮扶甘谷县消费帮扶",
            "name_en": f"Dongli–Gangu consumption aid {today.year}",
            "starts_on": f"{today.year}-01-01",
            "ends_on": f"{today.year}-12-31",
            "target_fen": 6_000_000_000,
            "township_targets": {"西坪镇": 100_000_000},
        },
    )
    assert r.status_code == 201, r.json
    assert (
        admin.post(
            "/api/v1/admin/categories", json={"code": "pepper", "name": "花椒", "name_en": "Sichuan pepper"}
        ).status_code
        == 201
    )

    # 1. The producer, with its certificate and the scanned document.
    r = admin.post(
        "/api/v1/admin/producers",
        json={
            "code": "xiping-pepper",
            "name": "西坪镇花椒专业合作社",
            "township": "西坪镇",
            "village": "西坪村",
            "kind": "cooperative",
            "linked_households": 57,
        },
        headers={"Idempotency-Key": "onboard-xiping"},
    )
    assert r.status_code == 201, r.json
    producer_id = r.json["id"]
    r = admin.post(
        f"/api/v1/admin/producers/{producer_id}/certificates",
        json={
            "number": "GGFP-2026-101",
            "issuer": "甘谷县乡村振兴局",
            "valid_from": (today - timedelta(days=30)).isoformat(),
            "valid_until": (today + timedelta(days=365)).isoformat(),
        },
    )
    assert r.status_code == 201, r.json
    r = upload(
        admin,
        "/api/v1/admin/certificates/GGFP-2026-101/document",
        files.jpeg_with_gps(),
        "scan.jpg",
        "image/jpeg",
    )
    assert r.status_code == 201 and r.json["content_type"] == "image/jpeg"

    # 2. The product with two variants, and its photo.
    r = admin.post(
        "/api/v1/admin/products",
        json={
            "name": "西坪大红袍花椒",
            "name_en": "Xiping Dahongpao Sichuan pepper",
            "category": "pepper",
            "producer": "xiping-pepper",
            "description": "七月采摘，麻香浓郁。",
            "variants": [
                {"sku": "XP-DHP-250G", "name": "大红袍花椒 250克", "price_fen": 4500, "perishable": True},
                {"sku": "XP-DHP-500G", "name": "大红袍花椒 500克", "price_fen": 8500, "perishable": True},
            ],
        },
    )
    assert r.status_code == 201, r.json
    product_id = r.json["id"]
    photo = upload(
        admin,
        f"/api/v1/admin/products/{product_id}/images",
        files.jpeg_with_gps(),
        "IMG_2231.JPG",
        "image/jpeg",
    )
    assert photo.status_code == 201
    served = client.get(photo.json["url"])
    assert served.status_code == 200 and files.exif_of(served.data)[1] == {}

    # 3. The fair booth, open today and the next two days, with pickup.
    r = admin.post(
        "/api/v1/admin/locations",
        json={
            "code": "FAIR-XP",
            "name": "消费帮扶展销会甘谷展位",
            "kind": "fair",
            "district": "东丽区",
            "address": "东丽区体育中心",
            "pickup": True,
            "opens_on": today.isoformat(),
            "closes_on": (today + timedelta(days=2)).isoformat(),
        },
    )
    assert r.status_code == 201, r.json

    # 4. The operator works there, and receives the goods.
    r = admin.post("/api/v1/admin/locations/FAIR-XP/operators", json={"email": "booth-op@dongli.example.cn"})
    assert r.status_code == 201
    operator = ApiClient(client).as_user("booth-op@dongli.example.cn")
    best_before = (today + timedelta(days=300)).isoformat()
    r = operator.post(
        "/api/v1/locations/FAIR-XP/receipts",
        json={
            "lines": [{"sku": "XP-DHP-250G", "quantity": 30, "lot": "XP-0701", "best_before": best_before}]
        },
    )
    assert r.status_code == 201, r.json

    # 5. A customer finds the product, with its photo, and orders it for pickup at the booth.
    listed = client.get("/api/v1/products?q=花椒").json["items"]
    assert [p["id"] for p in listed] == [product_id]
    assert (
        listed[0]["images"][0]["cover"] and listed[0]["producer"]["certificate"]["number"] == "GGFP-2026-101"
    )
    with Image.open(io.BytesIO(client.get(listed[0]["images"][0]["renditions"][0]["webp"]).data)) as im:
        assert im.format == "WEBP"
    booths = [loc["code"] for loc in client.get("/api/v1/locations").json["items"] if loc["pickup"]]
    assert "FAIR-XP" in booths
    r = client.post(
        "/api/v1/auth/register",
        json={"email": "buyer@tianjin.example.cn", "password": "password-123", "name": "王芳"},
    )
    assert r.status_code == 201
    buyer = ApiClient(client).as_user("buyer@tianjin.example.cn")
    r = buyer.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku": "XP-DHP-250G", "quantity": 2}],
            "delivery": {"type": "pickup", "location": "FAIR-XP"},
        },
    )
    assert r.status_code == 201, r.json
    order = r.json
    assert order["total_fen"] == 9000 and order["status"] == "pending_payment"

    # Paid at the booth: the sale counts for the programme as certified aid.
    r = operator.post(f"/api/v1/orders/{order['id']}/payments/manual", json={"method": "wechat"})
    assert r.status_code == 200 and r.json["status"] in ("paid", "fulfilling", "ready_for_pickup")
    entry = db.session.scalar(select(AidEntry))
    assert (entry.amount_fen, entry.qualifying, entry.township, entry.certificate_number) == (
        9000,
        True,
        "西坪镇",
        "GGFP-2026-101",
    )
    totals = admin.get(f"/api/v1/aid/programmes/DL-GG-{today.year}/totals").json
    assert totals["qualifying_fen"] == 9000
    assert totals["targets"] == [
        {
            "kind": "township",
            "key": "西坪镇",
            "name": "西坪镇",
            "name_en": "Xiping",
            "target_fen": 100_000_000,
            "qualifying_fen": 9000,
            "progress": 0.0001,
        }
    ]
