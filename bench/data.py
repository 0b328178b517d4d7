"""Bench data: the demo catalogue plus enough extra products that a list page holds 20 with stock."""

from __future__ import annotations

from sqlalchemy import func, select

from shop.catalog.models import Category, Location, Producer, Product, Variant
from shop.core.db import atomic, db
from shop.demo import seed_demo
from shop.inventory.services import add_stock


def load_catalogue(extra_products: int = 200) -> dict:
    with atomic():
        seed_demo()
    have = db.session.scalar(select(func.count()).select_from(Product).where(Product.slug.like("bench-%")))
    producers = list(db.session.scalars(select(Producer).order_by(Producer.id)))
    categories = list(db.session.scalars(select(Category).order_by(Category.id)))
    warehouse = db.session.scalar(select(Location).where(Location.code == "GG-WH"))
    with atomic():
        for i in range(have or 0, extra_products):
            p = Product(
                slug=f"bench-{i}",
                category_id=categories[i % len(categories)].id,
                producer_id=producers[i % len(producers)].id,
                name_zh=f"测试商品{i}",
                name_en=f"Bench product {i}",
            )
            db.session.add(p)
            db.session.flush()
            v = Variant(
                product_id=p.id,
                sku=f"BENCH-{i}",
                name_zh=f"测试{i}",
                name_en=f"Bench {i}",
                unit_zh="件",
                unit_en="piece",
                price_fen=1000 + i,
                perishable=False,
            )
            db.session.add(v)
            db.session.flush()
            add_stock(v, warehouse, 1000, kind="receipt", reference=f"bench:{i}")
    return {"products": db.session.scalar(select(func.count()).select_from(Product))}


def load_checkout(spread: int = 1000) -> dict:
    """A hot SKU, a separate row for the bare UPDATE baseline, and ``spread`` SKUs at one hall."""
    from shop.inventory.models import StockLevel
    from shop.inventory.services import level_id

    hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
    producer = db.session.scalar(select(Producer).where(Producer.code == "mashoe-co"))
    category = db.session.scalar(select(Category).where(Category.code == "shoes"))

    def variant(sku: str, stock: int) -> Variant:
        v = db.session.scalar(select(Variant).where(Variant.sku == sku))
        if v is None:
            p = Product(
                slug=f"bench-{sku.lower()}",
                category_id=category.id,
                producer_id=producer.id,
                name_zh=sku,
                name_en=sku,
            )
            db.session.add(p)
            db.session.flush()
            v = Variant(
                product_id=p.id,
                sku=sku,
                name_zh=sku,
                name_en=sku,
                unit_zh="双",
                unit_en="pair",
                price_fen=9800,
                perishable=False,
            )
            db.session.add(v)
            db.session.flush()
            add_stock(v, hall, stock, kind="receipt", reference=f"bench:{sku}")
        return v

    with atomic():
        hot = variant("BENCH-HOT", 1_000_000)
        bare = variant("BENCH-BARE", 1_000_000)
        for i in range(spread):
            variant(f"BENCH-S{i}", 100_000)
    return {
        "hot_sku": hot.sku,
        "bare_level_id": level_id(bare.id, hall.id),
        "hot_level_id": level_id(hot.id, hall.id),
        "levels": db.session.scalar(select(func.count()).select_from(StockLevel)),
    }
