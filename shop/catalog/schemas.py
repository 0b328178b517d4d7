"""Catalogue request and response schemas (they also generate the OpenAPI document)."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.catalog.models import Location, Producer, Product, Variant
from shop.core.api import PageArgs, PageSchema
from shop.media.services import ImageView


class ProductArgs(PageArgs):
    category = f.String(validate=v.Length(max=40))
    producer = f.Integer(validate=v.Range(min=1, max=2**31 - 1))
    township = f.String(validate=v.Length(max=60))
    q = f.String(validate=v.Length(max=100))


class ProducerArgs(PageArgs):
    township = f.String(validate=v.Length(max=60))


class LocationArgs(ma.Schema):
    kind = f.String(validate=v.OneOf(["warehouse", "hall", "fair", "fulfilment"]))


class CertificateSchema(ma.Schema):
    number = f.String(required=True)
    issuer = f.String()
    valid_from = f.Date()
    valid_until = f.Date(required=True)
    revoked = f.Boolean()


class CertificateInSchema(ma.Schema):
    number = f.String(required=True, validate=v.Length(min=1, max=80))
    issuer = f.String(required=True, validate=v.Length(min=1, max=160))
    valid_from = f.Date(required=True)
    valid_until = f.Date(required=True)


class RevokeSchema(ma.Schema):
    reason = f.String(required=True, validate=v.Length(min=1, max=500))


class ProducerBriefSchema(ma.Schema):
    id = f.Integer(required=True)
    name = f.String(required=True)
    name_en = f.String()
    kind = f.String()
    township = f.String(required=True)
    township_en = f.String()
    village = f.String()
    certificate = f.Nested(CertificateSchema, allow_none=True)
    linked_households = f.Integer(required=True)
    linked_people = f.Integer()


class ProducerSchema(ProducerBriefSchema):
    legal_name = f.String()
    benefit_mechanism = f.String()
    benefit_mechanism_en = f.String()
    story = f.String()
    story_en = f.String()


class VariantSchema(ma.Schema):
    sku = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    unit = f.String()
    unit_en = f.String()
    weight_grams = f.Integer()
    price_fen = f.Integer(required=True)
    currency = f.String(required=True)
    available = f.Integer(required=True)
    perishable = f.Boolean(required=True)
    shelf_life_days = f.Integer(allow_none=True)


class ProductImageRenditionSchema(ma.Schema):
    width = f.Integer(required=True)
    height = f.Integer(required=True)
    jpeg = f.String(required=True)
    webp = f.String(required=True)


class ProductImageSchema(ma.Schema):
    id = f.Integer(required=True)
    url = f.String(required=True, metadata={"description": "the 960-px JPEG rendition"})
    cover = f.Boolean(required=True, metadata={"description": "the first image is the cover"})
    width = f.Integer()
    height = f.Integer()
    renditions = f.List(f.Nested(ProductImageRenditionSchema))


class ProductSummarySchema(ma.Schema):
    id = f.Integer(required=True)
    slug = f.String()
    name = f.String(required=True)
    name_en = f.String()
    category = f.String()
    origin_mark = f.String()
    price_from_fen = f.Integer()
    currency = f.String()
    available = f.Integer()
    producer = f.Nested(ProducerBriefSchema)
    variants = f.List(f.Nested(VariantSchema))
    images = f.List(
        f.Nested(ProductImageSchema), metadata={"description": "in order; the first is the cover"}
    )


class ProductDetailSchema(ProductSummarySchema):
    description = f.String()
    description_en = f.String()


class ProductPageSchema(PageSchema):
    items = f.List(f.Nested(ProductSummarySchema), required=True)


class ProducerPageSchema(PageSchema):
    items = f.List(f.Nested(ProducerSchema), required=True)


class LocationSchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    kind = f.String(required=True)
    district = f.String()
    address = f.String()
    pickup = f.Boolean(required=True)
    active_from = f.Date(allow_none=True)
    active_until = f.Date(allow_none=True)
    opens_on = f.Date(allow_none=True, metadata={"description": "a fair booth's first day"})
    closes_on = f.Date(allow_none=True, metadata={"description": "its last day"})
    opening_hours = f.String()


class LocationListSchema(ma.Schema):
    items = f.List(f.Nested(LocationSchema), required=True)


# Presenters: plain dicts the schemas above describe.


def certificate_dict(producer: Producer, on: date) -> dict | None:
    cert = producer.certificate_on(on)
    if cert is None:
        return None
    return {
        "number": cert.number,
        "issuer": cert.issuer,
        "valid_from": cert.valid_from,
        "valid_until": cert.valid_until,
    }


def producer_dict(producer: Producer, on: date, *, full: bool = False) -> dict:
    out = {
        "id": producer.id,
        "name": producer.name_zh,
        "name_en": producer.name_en,
        "kind": producer.kind,
        "township": producer.township,
        "township_en": producer.township_en,
        "village": producer.village,
        "certificate": certificate_dict(producer, on),
        "linked_households": producer.linked_households,
        "linked_people": producer.linked_people,
    }
    if full:
        out.update(
            legal_name=producer.legal_name,
            benefit_mechanism=producer.benefit_mechanism_zh,
            benefit_mechanism_en=producer.benefit_mechanism_en,
            story=producer.story_zh,
            story_en=producer.story_en,
        )
    return out


def variant_dict(variant: Variant, available: int) -> dict:
    return {
        "sku": variant.sku,
        "name": variant.name_zh,
        "name_en": variant.name_en,
        "unit": variant.unit_zh,
        "unit_en": variant.unit_en,
        "weight_grams": variant.weight_grams,
        "price_fen": variant.price_fen,
        "currency": "CNY",
        "available": max(available, 0),
        "perishable": variant.perishable,
        "shelf_life_days": variant.shelf_life_days,
    }


def product_dict(
    product: Product,
    avail: dict[int, int],
    on: date,
    *,
    detail: bool = False,
    images: list[ImageView] | None = None,
) -> dict:
    variants = [variant_dict(v, avail.get(v.id, 0)) for v in product.variants if v.active]
    out = {
        "id": product.id,
        "slug": product.slug,
        "name": product.name_zh,
        "name_en": product.name_en,
        "category": product.category.code,
        "origin_mark": product.origin_mark,
        "price_from_fen": min((v["price_fen"] for v in variants), default=0),
        "currency": "CNY",
        "available": sum(v["available"] for v in variants),
        "producer": producer_dict(product.producer, on),
        "variants": variants,
        "images": [img.as_dict() for img in images or []],
    }
    if detail:
        out.update(description=product.description_zh, description_en=product.description_en)
    return out


def location_dict(loc: Location) -> dict:
    return {
        "code": loc.code,
        "name": loc.name_zh,
        "name_en": loc.name_en,
        "kind": loc.kind,
        "district": loc.district,
        "address": loc.address,
        "pickup": loc.pickup,
        "active_from": loc.active_from,
        "active_until": loc.active_until,
        "opens_on": loc.active_from,
        "closes_on": loc.active_until,
        "opening_hours": loc.opening_hours,
    }
