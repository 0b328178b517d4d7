"""Products and variants in the back office: create and edit in Chinese and English, prices with their
history, on sale or not.

A price change applies to orders placed after it: an order line keeps the price it was placed at.
Taking a product or variant off sale hides it from the catalogue and from new orders; orders already
placed go on (their lines point at the variant, which is never deleted).
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from shop.audit.services import record
from shop.backoffice import checks
from shop.backoffice.checks import Problems
from shop.backoffice.errors import CategoryTaken, SkuTaken, VariantNotFound
from shop.backoffice.models import PriceChange
from shop.catalog import cache
from shop.catalog.errors import ProductNotFound
from shop.catalog.models import Category, Producer, Product, Variant
from shop.catalog.search import refresh_search_keys
from shop.core.api import page_of
from shop.core.db import after_commit, db

MAX_VARIANTS = 30
PRODUCT_TEXT = {
    "name": ("name_zh", 120),
    "name_en": ("name_en", 160),
    "description": ("description_zh", 4000),
    "description_en": ("description_en", 4000),
    "origin_mark": ("origin_mark", 120),
}
VARIANT_TEXT = {
    "name": ("name_zh", 120),
    "name_en": ("name_en", 160),
    "unit": ("unit_zh", 30),
    "unit_en": ("unit_en", 40),
}


def _catalogue_changed() -> None:
    after_commit(cache.clear)


def get_product(product_id: int) -> Product:
    """Any product, on sale or not."""
    product = db.session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(f"product {product_id} does not exist")
    return product


def get_variant(sku: str, *, lock: bool = False) -> Variant:
    stmt = select(Variant).where(Variant.sku == sku)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    variant = db.session.scalar(stmt)
    if variant is None:
        raise VariantNotFound(f"no variant with SKU {sku!r}")
    return variant


def list_products(
    *,
    page: int = 1,
    per_page: int = 50,
    q: str | None = None,
    producer: str | None = None,
    category: str | None = None,
    active: bool | None = None,
):
    """Every product (on sale or not) matching the filters, newest first."""
    stmt = select(Product).join(Producer, Product.producer_id == Producer.id).order_by(Product.id.desc())
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Product.name_zh).like(pattern),
                func.lower(Product.name_en).like(pattern),
                Product.id.in_(select(Variant.product_id).where(func.lower(Variant.sku).like(pattern))),
            )
        )
    if producer:
        stmt = stmt.where(Producer.code == producer)
    if category:
        stmt = stmt.where(Product.category_id.in_(select(Category.id).where(Category.code == category)))
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    return page_of(stmt, page=page, per_page=per_page)


def _slug(name_en: str, fallback: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", (name_en or "").lower()).strip("-")[:60] or fallback.lower()
    slug = base
    while db.session.scalar(select(Product.id).where(Product.slug == slug)) is not None:
        slug = f"{base[:70]}-{secrets.token_hex(2)}"
    return slug


def _check_variant(p: Problems, prefix: str, data: dict, *, creating: bool) -> dict:
    values: dict = {}
    if creating:
        values["sku"] = p.pattern(f"{prefix}sku", data.get("sku"), checks.SKU, checks.BAD_SKU)
    for field, (attr, max_len) in VARIANT_TEXT.items():
        if field in data or (creating and field == "name"):
            values[attr] = p.text(
                f"{prefix}{field}", data.get(field), max_len=max_len, required=field == "name"
            )
    if "price_fen" in data or creating:
        values["price_fen"] = p.price(f"{prefix}price_fen", data.get("price_fen"))
    if "weight_grams" in data:
        values["weight_grams"] = p.count(f"{prefix}weight_grams", data["weight_grams"], maximum=1_000_000)
    if "shelf_life_days" in data:
        days = data["shelf_life_days"]
        if days is not None:
            days = p.count(f"{prefix}shelf_life_days", days, maximum=3650)
        values["shelf_life_days"] = days or None
    if "low_stock_threshold" in data:
        values["low_stock_threshold"] = p.count(f"{prefix}low_stock_threshold", data["low_stock_threshold"])
    for flag in ("perishable", "active"):
        if flag in data:
            if not isinstance(data[flag], bool):
                p.add(f"{prefix}{flag}", checks.REQUIRED)
            values[flag] = bool(data[flag])
    return values


def _variant_defaults(values: dict) -> dict:
    values.setdefault("name_en", "")
    values["name_en"] = values["name_en"] or values["name_zh"]
    values["unit_zh"] = values.get("unit_zh") or "件"
    values["unit_en"] = values.get("unit_en") or "item"
    values.setdefault("perishable", False)
    return values


def _refuse_taken_skus(skus: list[str], fields: list[str]) -> None:
    taken = dict(
        db.session.execute(
            select(Variant.sku, Product.name_zh)
            .join(Product, Variant.product_id == Product.id)
            .where(Variant.sku.in_(skus))
        ).all()
    )
    if taken:
        clash = [s for s in skus if s in taken]
        raise SkuTaken(
            "SKU " + ", ".join(f"{s} is already taken (product {taken[s]})" for s in clash),
            errors=[
                {"field": f, "message": checks.ALREADY_TAKEN}
                for s, f in zip(skus, fields, strict=True)
                if s in taken
            ],
        )


def _insert_variants(variants: list[Variant], fields: list[str]) -> None:
    try:
        with db.session.begin_nested():  # a concurrent request taking the same SKU ends here
            db.session.add_all(variants)
            db.session.flush()
    except IntegrityError:
        _refuse_taken_skus([v.sku for v in variants], fields)
        raise


def create_product(*, category: str, producer: str, variants: list[dict], actor=None, **data) -> Product:
    """Create a product with its variants; it is on sale at once. A SKU already taken is a 409 naming it."""
    p = Problems()
    values = {}
    for field, (attr, max_len) in PRODUCT_TEXT.items():
        values[attr] = p.text(field, data.get(field), max_len=max_len, required=field == "name")
    cat = db.session.scalar(select(Category).where(Category.code == category))
    if cat is None:
        p.add("category", checks.UNKNOWN_CATEGORY)
    prod = db.session.scalar(select(Producer).where(Producer.code == producer))
    if prod is None:
        p.add("producer", checks.UNKNOWN_PRODUCER)
    elif not prod.active:
        p.add("producer", checks.PRODUCER_INACTIVE)
    if not variants:
        p.add("variants", checks.NEEDS_A_VARIANT)
    elif len(variants) > MAX_VARIANTS:
        p.add("variants", checks.OUT_OF_RANGE)
    checked = [
        _check_variant(p, f"variants.{i}.", v, creating=True) for i, v in enumerate(variants[:MAX_VARIANTS])
    ]
    seen: set[str] = set()
    for i, v in enumerate(checked):
        if v["sku"] and v["sku"] in seen:
            p.add(f"variants.{i}.sku", checks.REPEATED)
        seen.add(v["sku"])
    p.raise_if_any()
    fields = [f"variants.{i}.sku" for i in range(len(checked))]
    _refuse_taken_skus([v["sku"] for v in checked], fields)
    values["name_en"] = values["name_en"] or values["name_zh"]
    product = Product(
        slug=_slug(values["name_en"], checked[0]["sku"]), category_id=cat.id, producer_id=prod.id, **values
    )
    db.session.add(product)
    db.session.flush()
    rows = [Variant(product_id=product.id, **_variant_defaults(v)) for v in checked]
    _insert_variants(rows, fields)
    record(
        actor,
        "product.create",
        target_type="product",
        target_id=product.id,
        name=product.name_zh,
        producer=prod.code,
        category=cat.code,
        variants={v.sku: v.price_fen for v in rows},
    )
    refresh_search_keys([product.id])
    _catalogue_changed()
    return product


def update_product(product_id: int, *, actor=None, **data) -> Product:
    """Change a product's texts, category or whether it is on sale."""
    product = get_product(product_id)
    p = Problems()
    values = {}
    for field, (attr, max_len) in PRODUCT_TEXT.items():
        if field in data:
            values[attr] = p.text(field, data[field], max_len=max_len, required=field == "name")
    if "category" in data:
        cat = db.session.scalar(select(Category).where(Category.code == data["category"]))
        if cat is None:
            p.add("category", checks.UNKNOWN_CATEGORY)
        else:
            values["category_id"] = cat.id
    if "active" in data:
        if not isinstance(data["active"], bool):
            p.add("active", checks.REQUIRED)
        elif data["active"] and not product.producer.active:
            p.add("active", checks.PRODUCER_INACTIVE)
        else:
            values["active"] = data["active"]
    p.raise_if_any()
    if values.get("name_en") == "":
        values["name_en"] = values.get("name_zh") or product.name_zh
    before = {k: getattr(product, k) for k in values}
    for attr, value in values.items():
        setattr(product, attr, value)
    db.session.flush()
    changed = {k: v for k, v in values.items() if before[k] != v}
    if changed:
        record(
            actor,
            "product.update",
            target_type="product",
            target_id=product.id,
            before={k: before[k] for k in changed if "description" not in k},
            after={k: v for k, v in changed.items() if "description" not in k},
        )
    refresh_search_keys([product.id])
    _catalogue_changed()
    return product


def add_variant(product_id: int, *, actor=None, **data) -> Variant:
    """Add a variant (a size, a pack) to a product."""
    product = get_product(product_id)
    p = Problems()
    values = _check_variant(p, "", data, creating=True)
    p.raise_if_any()
    _refuse_taken_skus([values["sku"]], ["sku"])
    variant = Variant(product_id=product.id, **_variant_defaults(values))
    _insert_variants([variant], ["sku"])
    record(
        actor,
        "variant.create",
        target_type="product",
        target_id=product.id,
        sku=variant.sku,
        price_fen=variant.price_fen,
    )
    refresh_search_keys([variant.product_id])
    _catalogue_changed()
    return variant


def update_variant(sku: str, *, actor=None, **data) -> Variant:
    """Change a variant; a new price is kept in the price history and applies to orders placed after it."""
    p = Problems()
    values = _check_variant(p, "", data, creating=False)
    p.raise_if_any()
    # Locked, so two admins changing the price at once each record the price they really replaced.
    variant = get_variant(sku, lock=True)
    before = {k: getattr(variant, k) for k in values}
    for attr, value in values.items():
        setattr(variant, attr, value)
    changed = {k: v for k, v in values.items() if before[k] != v}
    if "price_fen" in changed:
        db.session.add(
            PriceChange(
                variant_id=variant.id,
                old_price_fen=before["price_fen"],
                new_price_fen=changed["price_fen"],
                changed_by_id=getattr(actor, "id", None),
                changed_by_email=getattr(actor, "email", "") or "system",
            )
        )
    db.session.flush()
    if changed:
        record(
            actor,
            "variant.update",
            target_type="product",
            target_id=variant.product_id,
            sku=sku,
            before={k: before[k] for k in changed},
            after=changed,
        )
    refresh_search_keys([variant.product_id])
    _catalogue_changed()
    return variant


def price_history(product: Product) -> list[tuple[PriceChange, str]]:
    """Every price change of the product's variants, newest first, with the SKU."""
    rows = db.session.execute(
        select(PriceChange, Variant.sku)
        .join(Variant, PriceChange.variant_id == Variant.id)
        .where(Variant.product_id == product.id)
        .order_by(PriceChange.changed_at.desc(), PriceChange.id.desc())
    )
    return [(change, sku) for change, sku in rows]


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.id)))


def active_producers() -> list[Producer]:
    return list(
        db.session.scalars(select(Producer).where(Producer.active.is_(True)).order_by(Producer.name_zh))
    )


CATEGORY_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")


def create_category(*, code: str, name: str, name_en: str = "", actor=None) -> Category:
    """Add a catalogue category (fruit, chili...); a code already taken is a 409."""
    p = Problems()
    code = p.pattern("code", code, CATEGORY_CODE, checks.BAD_PRODUCER_CODE)
    name = p.text("name", name, max_len=80, required=True)
    name_en = p.text("name_en", name_en, max_len=80)
    p.raise_if_any()
    if db.session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise CategoryTaken(
            f"category code {code!r} is already taken",
            errors=[{"field": "code", "message": checks.ALREADY_TAKEN}],
        )
    last = db.session.scalar(select(func.max(Category.position))) or 0
    cat = Category(code=code, name_zh=name, name_en=name_en or name, position=last + 1)
    db.session.add(cat)
    db.session.flush()
    record(actor, "category.create", target_type="category", target_id=code, name=name)
    _catalogue_changed()
    return cat
