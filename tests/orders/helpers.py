"""Small builders for order tests: buyers with tokens, stock at a location, placing orders."""

from __future__ import annotations

from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Location, Variant
from shop.core.db import atomic, db
from shop.inventory.models import StockLevel

PICKUP = {"type": "pickup", "location": "DL-HM"}
ADDRESS = {
    "recipient": "张三",
    "phone": "13812345678",
    "district": "河西区",
    "street_address": "友谊路 20 号 3 栋 2 单元 501",
}
SHIP = {"type": "ship", "address": ADDRESS}


def buyer(email: str = "buyer@example.cn", *, buyer_kind: str = "consumer") -> User:
    """A customer without the cost of hashing a password (tests get tokens directly)."""
    with atomic():
        user = User(
            email=email,
            name=email.split("@")[0],
            password_hash="!",
            role="customer",
            buyer_kind=buyer_kind,
            invoice_title="东丽区机关食堂" if buyer_kind == "work_unit" else "",
            tax_id="12120110MB1234567X" if buyer_kind == "work_unit" else "",
        )
        db.session.add(user)
    return user


def token(user: User) -> str:
    from shop.accounts.services import issue_token

    return issue_token(user)[0]


def auth(user: User) -> dict:
    return {"Authorization": f"Bearer {token(user)}"}


def level(sku: str, code: str) -> StockLevel | None:
    db.session.rollback()
    return db.session.scalar(
        select(StockLevel)
        .join(Variant, StockLevel.variant_id == Variant.id)
        .join(Location, StockLevel.location_id == Location.id)
        .where(Variant.sku == sku, Location.code == code)
    )


def reserved(sku: str, code: str) -> int:
    lvl = level(sku, code)
    return lvl.reserved if lvl else 0


def order_body(sku: str = "CHL-LINE-500G", quantity: int = 2, delivery: dict | None = None) -> dict:
    return {"lines": [{"sku": sku, "quantity": quantity}], "delivery": delivery or PICKUP}
