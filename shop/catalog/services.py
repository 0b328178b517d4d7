"""Catalogue queries: product lists with filters, product detail, producers, locations; certificates.

How many units of a product can be bought is the stock's to say (``shop.inventory.queries.availability``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, column, func, or_, select, table

from shop.audit.services import record
from shop.catalog import search
from shop.catalog.errors import (
    BadFilter,
    CertificateExists,
    CertificateNotFound,
    LocationNotFound,
    ProducerNotFound,
    ProductNotFound,
    UnknownSku,
)
from shop.catalog.models import AidCertificate, Category, Location, Producer, Product, Variant
from shop.core.api import page_of
from shop.core.db import db
from shop.core.errors import ValidationFailed


def list_categories() -> list[Category]:
    """The storefront's categories; codes starting with "_" are internal (the aid ledger's hidden
    charity-item category) and never listed."""
    return list(
        db.session.scalars(
            select(Category)
            .where(~Category.code.startswith("_", autoescape=True))
            .order_by(Category.position, Category.id)
        )
    )


def product_query(
    *,
    category: str | None = None,
    producer: int | None = None,
    township: str | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> Select:
    """Build the select for active products matching the filters, in catalogue order, or cheapest first
    (``sort="price"``) or newest first (``sort="newest"``). ``q`` matches names, pinyin, initials, SKUs,
    producer and township (shop.catalog.search)."""
    stmt = select(Product).where(Product.active.is_(True))
    if category:
        cat_id = db.session.scalar(select(Category.id).where(Category.code == category))
        if cat_id is None:
            raise BadFilter(
                f"unknown category {category!r}",
                errors=[{"field": "category", "message": "unknown category"}],
            )
        stmt = stmt.where(Product.category_id == cat_id)
    if producer is not None:
        stmt = stmt.where(Product.producer_id == producer)
    if township or q:
        stmt = stmt.join(Producer, Product.producer_id == Producer.id)
    if township:
        stmt = stmt.where(or_(Producer.township == township, Producer.township_en == township))
    if q:
        stmt = stmt.where(search.matches(q))
    if sort == "price":
        cheapest = (
            select(func.min(Variant.price_fen))
            .where(Variant.product_id == Product.id, Variant.active.is_(True))
            .scalar_subquery()
        )
        return stmt.order_by(cheapest, Product.id)
    if sort == "popular":
        # Units ordered online per product; a lightweight table clause, since orders sit above the
        # catalogue and the catalogue imports none of their modules.
        lines = table("order_line", column("variant_id"), column("quantity"))
        sold = (
            select(func.coalesce(func.sum(lines.c.quantity), 0))
            .select_from(lines.join(Variant, Variant.id == lines.c.variant_id))
            .where(Variant.product_id == Product.id)
            .scalar_subquery()
        )
        return stmt.order_by(sold.desc(), Product.id)
    if sort == "newest":
        return stmt.order_by(Product.created_at.desc(), Product.id.desc())
    return stmt.order_by(Product.category_id, Product.id)


def list_products(*, page: int = 1, per_page: int = 20, **filters) -> tuple[list[Product], int]:
    """Return one page of active products matching ``filters`` and the total count."""
    return page_of(product_query(**filters), page=page, per_page=per_page)


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None or not product.active:
        raise ProductNotFound(f"product {product_id} does not exist")
    return product


def get_product_by_slug(slug: str) -> Product:
    product = db.session.scalar(select(Product).where(Product.slug == slug, Product.active.is_(True)))
    if product is None:
        raise ProductNotFound(f"product {slug} does not exist")
    return product


def variant_by_sku(sku: str) -> Variant | None:
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def variants_by_sku(skus: Sequence[str], fields: Sequence[str]) -> list[Variant]:
    """The variant of each SKU from a request, in order, with one query for all; an unknown SKU is a 422
    (``UnknownSku``) naming its field (``fields[i]``, e.g. ``lines.2.sku``)."""
    wanted = set(skus)
    found = (
        {v.sku: v for v in db.session.scalars(select(Variant).where(Variant.sku.in_(wanted)))}
        if wanted
        else {}
    )
    for sku, field_name in zip(skus, fields, strict=True):
        if sku not in found:
            raise UnknownSku(f"unknown SKU {sku!r}", errors=[{"field": field_name, "message": "unknown SKU"}])
    return [found[sku] for sku in skus]


def list_producers(*, page: int = 1, per_page: int = 20, township: str | None = None):
    stmt = select(Producer).where(Producer.active.is_(True)).order_by(Producer.id)
    if township:
        stmt = stmt.where(or_(Producer.township == township, Producer.township_en == township))
    return page_of(stmt, page=page, per_page=per_page)


def get_producer(producer_id: int) -> Producer:
    producer = db.session.get(Producer, producer_id)
    if producer is None:
        raise ProducerNotFound(f"producer {producer_id} does not exist")
    return producer


def list_townships() -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(Producer.township, Producer.township_en).distinct().order_by(Producer.township)
    )
    return [(zh, en) for zh, en in rows]


def list_locations(*, kind: str | None = None, on: date | None = None) -> list[Location]:
    # Without a kind, leave out the in-transit location: inventory's bookkeeping for goods on the road.
    stmt = select(Location).where(Location.kind == kind if kind else Location.kind != "transit")
    stmt = stmt.order_by(Location.id)
    locations = list(db.session.scalars(stmt))
    if on is not None:
        locations = [loc for loc in locations if loc.is_active_on(on)]
    return locations


def get_location(code: str) -> Location:
    loc = db.session.scalar(select(Location).where(Location.code == code))
    if loc is None:
        raise LocationNotFound(f"location {code} does not exist")
    return loc


def add_certificate(
    producer_id: int,
    *,
    number: str,
    issuer: str,
    valid_from: date,
    valid_until: date,
    actor=None,
):
    """Register a producer's aid certificate (认定); audited."""
    producer = get_producer(producer_id)
    if valid_until < valid_from:
        raise ValidationFailed(
            "valid_until is before valid_from",
            errors=[{"field": "valid_until", "message": "before valid_from"}],
        )
    if db.session.scalar(select(AidCertificate.id).where(AidCertificate.number == number)):
        raise CertificateExists(
            f"certificate {number} is already registered",
            errors=[{"field": "number", "message": "already taken"}],
        )
    cert = AidCertificate(
        producer_id=producer.id, number=number, issuer=issuer, valid_from=valid_from, valid_until=valid_until
    )
    db.session.add(cert)
    db.session.flush()
    record(
        actor,
        "certificate.add",
        target_type="producer",
        target_id=producer.id,
        number=number,
        issuer=issuer,
        valid_from=valid_from.isoformat(),
        valid_until=valid_until.isoformat(),
    )
    return cert


def revoke_certificate(number: str, *, reason: str, actor=None):
    """Revoke a certificate: sales after this no longer qualify; audited."""
    cert = db.session.scalar(select(AidCertificate).where(AidCertificate.number == number))
    if cert is None:
        raise CertificateNotFound(f"no certificate {number}")
    if not cert.revoked:
        cert.revoked = True
        record(
            actor,
            "certificate.revoke",
            target_type="producer",
            target_id=cert.producer_id,
            number=number,
            reason=reason,
        )
    db.session.flush()
    return cert
