"""The demo catalogue's pictures: drawn by code at seed time and made ready by the same pipeline as an
admin's upload, on the embedded default."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from shop.catalog.models import Product
from shop.core.db import atomic, db
from shop.demo import seed_demo, seed_demo_pictures
from shop.media.models import ProductImage


def test_every_demo_product_gets_a_drawn_picture_once(sqlite_app):
    settings = sqlite_app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    try:
        with atomic():
            seed_demo()
            assert seed_demo_pictures() == {"pictures": 11}
        with atomic():
            assert seed_demo_pictures() == {"pictures": 0}  # idempotent, like the rest of the seed
    finally:
        settings.OUTBOX_DELIVERY = "celery"
    statuses = db.session.execute(
        select(ProductImage.status, func.count()).group_by(ProductImage.status)
    ).all()
    assert statuses == [("ready", 11)]
    client = sqlite_app.test_client()
    items = client.get("/api/v1/products?per_page=20").json["items"]
    assert all(len(p["images"]) == 1 and p["images"][0]["cover"] for p in items)
    apples = db.session.scalar(select(Product.id).where(Product.slug == "huaniu-apples"))
    url = next(p for p in items if p["id"] == apples)["images"][0]["renditions"][1]["webp"]
    served = client.get(url)
    with Image.open(io.BytesIO(served.data)) as im:
        assert im.format == "WEBP" and im.size == (480, 360)
