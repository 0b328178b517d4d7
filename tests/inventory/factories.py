"""Small factories for inventory tests: a two-SKU catalogue, the warehouse, two halls, a fair, staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import AidCertificate, Category, Location, Producer, Product, Variant
from shop.core import clock
from shop.core.db import atomic, db
from shop.inventory import services
from shop.inventory.models import Lot, StockLevel

PASSWORD = "password-123"
OP_HM = "op-hm@test.cn"  # operator of hall DL-HM
OP_WX = "op-wx@test.cn"  # operator of hall DL-WX
OP_WH = "op-wh@test.cn"  # operator of the Gangu warehouse
ADMIN = "admin@test.cn"
BUYER = "buyer@test.cn"
OFFICER = "officer@test.cn"


@dataclass
class World:
    apple: int  # perishable, 68 yuan, keeps 90 days
    shoes: int  # not perishable, 98 yuan
    wh: int
    hm: int
    wx: int
    fair: int


def make_world(*, users: bool = True) -> World:
    today = clock.today()
    with atomic():
        cat = Category(code="fruit", name_zh="水果", name_en="Fruit")
        producer = Producer(
            code="coop",
            name_zh="合作社",
            name_en="Coop",
            legal_name="甘谷合作社",
            kind="cooperative",
            township="安远镇",
        )
        db.session.add_all([cat, producer])
        db.session.flush()
        db.session.add(
            AidCertificate(
                producer_id=producer.id,
                number="GGFP-T-001",
                issuer="甘谷县",
                valid_from=today - timedelta(days=365),
                valid_until=today + timedelta(days=365),
            )
        )
        product = Product(
            slug="apples", category_id=cat.id, producer_id=producer.id, name_zh="苹果", name_en="Apples"
        )
        db.session.add(product)
        db.session.flush()
        apple = Variant(
            product_id=product.id,
            sku="APL-5KG",
            name_zh="花牛苹果 5kg",
            name_en="Huaniu apples 5 kg",
            unit_zh="箱",
            unit_en="box",
            price_fen=6800,
            perishable=True,
            shelf_life_days=90,
            low_stock_threshold=5,
        )
        shoes = Variant(
            product_id=product.id,
            sku="SHOE-1",
            name_zh="麻鞋",
            name_en="Hemp shoes",
            unit_zh="双",
            unit_en="pair",
            price_fen=9800,
            low_stock_threshold=2,
        )
        locs = [
            Location(code="GG-WH", name_zh="甘谷仓", name_en="Gangu warehouse", kind="warehouse"),
            Location(code="DL-HM", name_zh="华明馆", name_en="Huaming hall", kind="hall"),
            Location(code="DL-WX", name_zh="万新馆", name_en="Wanxin hall", kind="hall"),
            Location(code="FAIR", name_zh="津洽会展位", name_en="Fair booth", kind="fair"),
        ]
        db.session.add_all([apple, shoes, *locs])
        db.session.flush()
        world = World(apple.id, shoes.id, *(loc.id for loc in locs))
    if users:
        with atomic():
            for email, role, codes in (
                (OP_HM, "operator", ["DL-HM"]),
                (OP_WX, "operator", ["DL-WX"]),
                (OP_WH, "operator", ["GG-WH"]),
                (ADMIN, "admin", []),
                (BUYER, "customer", []),
                (OFFICER, "aid_officer", []),
            ):
                add_user(email, role, codes)
    return world


@cache
def _password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once per test process.
    from shop.accounts.services import hash_password

    return hash_password(PASSWORD)


def add_user(email: str, role: str, location_codes: list[str]) -> User:
    """Insert a user in the current unit of work (what ``create_staff_user`` does, without re-hashing)."""
    locations = list(db.session.scalars(select(Location).where(Location.code.in_(location_codes))))
    user = User(email=email, name=email.split("@")[0], password_hash=_password_hash(), role=role)
    user.locations = locations
    db.session.add(user)
    db.session.flush()
    return user


def put(sku: str, location: str, quantity: int, *, lot: str = "-", best_before: date | None = None) -> None:
    """Receive stock through the ledger (the only way stock appears)."""
    with atomic():
        variant = db.session.scalar(select(Variant).where(Variant.sku == sku))
        loc = db.session.scalar(select(Location).where(Location.code == location))
        services.add_stock(
            variant, loc, quantity, kind="receipt", lot_code=lot, best_before=best_before, reference="test"
        )


def level(sku: str, location: str) -> tuple[int, int]:
    """(on hand, reserved), read fresh."""
    db.session.rollback()
    row = db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved)
        .join(Variant, StockLevel.variant_id == Variant.id)
        .join(Location, StockLevel.location_id == Location.id)
        .where(Variant.sku == sku, Location.code == location)
    ).first()
    return (row[0], row[1]) if row else (0, 0)


def lots(sku: str, location: str) -> dict[str, int]:
    db.session.rollback()
    return dict(
        db.session.execute(
            select(Lot.code, Lot.quantity)
            .join(Variant, Lot.variant_id == Variant.id)
            .join(Location, Lot.location_id == Location.id)
            .where(Variant.sku == sku, Location.code == location)
            .order_by(Lot.id)
        ).all()
    )
