"""Back-office request and response schemas (they also generate the OpenAPI document).

The schemas check shapes and types; the use cases check content (codes, townships, prices, dates), so
the pages and the API refuse the same things with the same field names.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.accounts.models import User
from shop.backoffice.locations import LOCATION_KINDS
from shop.backoffice.models import CertificateDocument, PriceChange
from shop.backoffice.producers import PRODUCER_KINDS
from shop.catalog.models import AidCertificate, Category, Location, Producer, Product, Variant
from shop.core.api import PageArgs, PageSchema
from shop.media.models import ProductImage
from shop.media.services import ImageView

TEXT = f.String  # lengths are the use cases' to check (same messages on pages and in the API)
COUNT = {"strict": True}


class ProducerInSchema(ma.Schema):
    code = TEXT(required=True, metadata={"description": "lower-case letters, digits and dashes"})
    name = TEXT(required=True)
    township = TEXT(required=True, metadata={"description": "a Gangu township, Chinese or English name"})
    village = TEXT()
    kind = TEXT(validate=v.OneOf(PRODUCER_KINDS))
    linked_households = f.Integer(**COUNT)
    linked_people = f.Integer(**COUNT)
    name_en = TEXT()
    legal_name = TEXT()
    benefit_mechanism = TEXT()
    benefit_mechanism_en = TEXT()
    story = TEXT()
    story_en = TEXT()
    fee_bp = f.Integer(**COUNT, metadata={"description": "the shop's fee in basis points, 0..10000"})


class ProducerPatchSchema(ProducerInSchema):
    class Meta:
        exclude = ("code",)

    name = TEXT()
    township = TEXT()
    active = f.Boolean()


class ProducerArgs(PageArgs):
    q = f.String(validate=v.Length(max=100))
    active = f.Boolean()


class CertificateOutSchema(ma.Schema):
    number = f.String(required=True)
    issuer = f.String()
    valid_from = f.Date()
    valid_until = f.Date()
    revoked = f.Boolean()
    document = f.Boolean(metadata={"description": "a scanned document is kept with it"})


class ProducerAdminSchema(ma.Schema):
    id = f.Integer(required=True)
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    legal_name = f.String()
    kind = f.String()
    township = f.String()
    township_en = f.String()
    village = f.String()
    linked_households = f.Integer()
    linked_people = f.Integer()
    benefit_mechanism = f.String()
    benefit_mechanism_en = f.String()
    story = f.String()
    story_en = f.String()
    fee_bp = f.Integer()
    active = f.Boolean()
    certificates = f.List(f.Nested(CertificateOutSchema))


class ProducerAdminPageSchema(PageSchema):
    items = f.List(f.Nested(ProducerAdminSchema), required=True)


class CertificateExpiryArgs(ma.Schema):
    days = f.Integer(load_default=30, validate=v.Range(min=0, max=366))


class CertificateExpirySchema(ma.Schema):
    number = f.String(required=True)
    producer = f.String(required=True, metadata={"description": "producer code"})
    producer_name = f.String()
    valid_until = f.Date(required=True)
    days_left = f.Integer(required=True)
    renewed = f.Boolean(metadata={"description": "a later certificate is already registered"})


class CertificateExpiryListSchema(ma.Schema):
    items = f.List(f.Nested(CertificateExpirySchema), required=True)


class DocumentSchema(ma.Schema):
    number = f.String(required=True)
    content_type = f.String(required=True)
    size_bytes = f.Integer(required=True)
    url = f.String(required=True)


class CategoryInSchema(ma.Schema):
    code = TEXT(required=True)
    name = TEXT(required=True)
    name_en = TEXT()


class CategorySchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()


class VariantInSchema(ma.Schema):
    sku = TEXT(required=True)
    name = TEXT(required=True)
    name_en = TEXT()
    unit = TEXT()
    unit_en = TEXT()
    weight_grams = f.Integer(**COUNT)
    price_fen = f.Integer(required=True, **COUNT)
    perishable = f.Boolean()
    shelf_life_days = f.Integer(allow_none=True, **COUNT)
    low_stock_threshold = f.Integer(**COUNT)


class VariantPatchSchema(ma.Schema):
    price_fen = f.Integer(**COUNT, metadata={"description": "applies to orders placed after the change"})
    active = f.Boolean()
    name = TEXT()
    name_en = TEXT()
    unit = TEXT()
    unit_en = TEXT()
    weight_grams = f.Integer(**COUNT)
    perishable = f.Boolean()
    shelf_life_days = f.Integer(allow_none=True, **COUNT)
    low_stock_threshold = f.Integer(**COUNT)


class ProductInSchema(ma.Schema):
    name = TEXT(required=True)
    name_en = TEXT()
    category = TEXT(required=True, metadata={"description": "category code, as products show it"})
    producer = TEXT(required=True, metadata={"description": "producer code"})
    description = TEXT()
    description_en = TEXT()
    origin_mark = TEXT()
    variants = f.List(f.Nested(VariantInSchema), required=True)


class ProductPatchSchema(ma.Schema):
    name = TEXT()
    name_en = TEXT()
    description = TEXT()
    description_en = TEXT()
    origin_mark = TEXT()
    category = TEXT()
    active = f.Boolean()


class ProductAdminArgs(PageArgs):
    q = f.String(validate=v.Length(max=100))
    producer = f.String(validate=v.Length(max=60))
    category = f.String(validate=v.Length(max=40))
    active = f.Boolean()


class VariantAdminSchema(ma.Schema):
    sku = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    unit = f.String()
    unit_en = f.String()
    weight_grams = f.Integer()
    price_fen = f.Integer(required=True)
    currency = f.String(required=True)
    perishable = f.Boolean(required=True)
    shelf_life_days = f.Integer(allow_none=True)
    low_stock_threshold = f.Integer()
    active = f.Boolean(required=True)


class RenditionSchema(ma.Schema):
    width = f.Integer(required=True)
    height = f.Integer(required=True)
    jpeg = f.String(required=True)
    webp = f.String(required=True)


class ImageSchema(ma.Schema):
    id = f.Integer(required=True)
    url = f.String(required=True, metadata={"description": "the 960-px JPEG rendition"})
    cover = f.Boolean(required=True)
    width = f.Integer()
    height = f.Integer()
    renditions = f.List(f.Nested(RenditionSchema))


class ImageAdminSchema(ma.Schema):
    id = f.Integer(required=True)
    url = f.String(required=True, metadata={"description": "serves the image once it is ready (503 before)"})
    status = f.String(required=True, metadata={"description": "pending, ready or failed"})
    position = f.Integer(required=True)
    error = f.String()


class ImageListSchema(ma.Schema):
    items = f.List(f.Nested(ImageAdminSchema), required=True)


class ImageOrderSchema(ma.Schema):
    ids = f.List(f.Integer(strict=True), required=True, validate=v.Length(min=1, max=100))


class ProductAdminSchema(ma.Schema):
    id = f.Integer(required=True)
    slug = f.String()
    name = f.String(required=True)
    name_en = f.String()
    category = f.String()
    producer = f.String(metadata={"description": "producer code"})
    description = f.String()
    description_en = f.String()
    origin_mark = f.String()
    active = f.Boolean(required=True)
    variants = f.List(f.Nested(VariantAdminSchema), required=True)
    images = f.List(f.Nested(ImageSchema))


class ProductAdminPageSchema(PageSchema):
    items = f.List(f.Nested(ProductAdminSchema), required=True)


class PriceChangeSchema(ma.Schema):
    sku = f.String(required=True)
    old_price_fen = f.Integer(required=True)
    new_price_fen = f.Integer(required=True)
    currency = f.String(required=True)
    changed_by = f.String()
    changed_at = f.DateTime(required=True)


class PriceHistorySchema(ma.Schema):
    items = f.List(f.Nested(PriceChangeSchema), required=True)


class LocationInSchema(ma.Schema):
    code = TEXT(required=True, metadata={"description": "capital letters, digits and dashes"})
    name = TEXT(required=True)
    name_en = TEXT()
    kind = TEXT(required=True, validate=v.OneOf(LOCATION_KINDS))
    district = TEXT()
    address = TEXT()
    pickup = f.Boolean(required=True)
    ships = f.Boolean()
    opens_on = f.Date(
        allow_none=True, metadata={"description": "a fair booth's first day (required for fairs)"}
    )
    closes_on = f.Date(allow_none=True, metadata={"description": "its last day"})
    opening_hours = TEXT(metadata={"description": "shown to buyers, e.g. 09:00-19:00"})


class LocationPatchSchema(LocationInSchema):
    class Meta:
        exclude = ("code",)

    name = TEXT()
    kind = TEXT(validate=v.OneOf(LOCATION_KINDS))
    pickup = f.Boolean()


class LocationAdminSchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    kind = f.String(required=True)
    district = f.String()
    address = f.String()
    pickup = f.Boolean(required=True)
    ships = f.Boolean()
    opens_on = f.Date(allow_none=True)
    closes_on = f.Date(allow_none=True)
    opening_hours = f.String()
    operators = f.List(f.Nested(lambda: OperatorSchema()))


class OperatorInSchema(ma.Schema):
    email = f.String(required=True, validate=v.Length(min=3, max=254))


class OperatorSchema(ma.Schema):
    id = f.Integer(required=True)
    email = f.String(required=True)
    name = f.String()


class OperatorListSchema(ma.Schema):
    items = f.List(f.Nested(OperatorSchema), required=True)


# Presenters: plain dicts the schemas above describe.


def certificate_out(cert: AidCertificate, docs: set[int]) -> dict:
    return {
        "number": cert.number,
        "issuer": cert.issuer,
        "valid_from": cert.valid_from,
        "valid_until": cert.valid_until,
        "revoked": cert.revoked,
        "document": cert.id in docs,
    }


def producer_admin_dict(p: Producer, docs: set[int] | None = None) -> dict:
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name_zh,
        "name_en": p.name_en,
        "legal_name": p.legal_name,
        "kind": p.kind,
        "township": p.township,
        "township_en": p.township_en,
        "village": p.village,
        "linked_households": p.linked_households,
        "linked_people": p.linked_people,
        "benefit_mechanism": p.benefit_mechanism_zh,
        "benefit_mechanism_en": p.benefit_mechanism_en,
        "story": p.story_zh,
        "story_en": p.story_en,
        "fee_bp": p.fee_bp,
        "active": p.active,
        "certificates": [certificate_out(c, docs or set()) for c in p.certificates],
    }


def expiring_dict(row: dict) -> dict:
    cert = row["certificate"]
    return {
        "number": cert.number,
        "producer": cert.producer.code,
        "producer_name": cert.producer.name_zh,
        "valid_until": cert.valid_until,
        "days_left": row["days_left"],
        "renewed": row["renewed"],
    }


def document_dict(number: str, doc: CertificateDocument, url: str) -> dict:
    return {"number": number, "content_type": doc.content_type, "size_bytes": doc.size_bytes, "url": url}


def category_dict(c: Category) -> dict:
    return {"code": c.code, "name": c.name_zh, "name_en": c.name_en}


def variant_admin_dict(var: Variant) -> dict:
    return {
        "sku": var.sku,
        "name": var.name_zh,
        "name_en": var.name_en,
        "unit": var.unit_zh,
        "unit_en": var.unit_en,
        "weight_grams": var.weight_grams,
        "price_fen": var.price_fen,
        "currency": "CNY",
        "perishable": var.perishable,
        "shelf_life_days": var.shelf_life_days,
        "low_stock_threshold": var.low_stock_threshold,
        "active": var.active,
    }


def product_admin_dict(p: Product, images: list[ImageView]) -> dict:
    return {
        "id": p.id,
        "slug": p.slug,
        "name": p.name_zh,
        "name_en": p.name_en,
        "category": p.category.code,
        "producer": p.producer.code,
        "description": p.description_zh,
        "description_en": p.description_en,
        "origin_mark": p.origin_mark,
        "active": p.active,
        "variants": [variant_admin_dict(var) for var in p.variants],
        "images": [img.as_dict() for img in images],
    }


def image_admin_dict(img: ProductImage, url: str) -> dict:
    return {"id": img.id, "url": url, "status": img.status, "position": img.position, "error": img.error}


def price_change_dict(change: PriceChange, sku: str) -> dict:
    return {
        "sku": sku,
        "old_price_fen": change.old_price_fen,
        "new_price_fen": change.new_price_fen,
        "currency": "CNY",
        "changed_by": change.changed_by_email,
        "changed_at": change.changed_at,
    }


def location_admin_dict(loc: Location, operators: list[User] | None = None) -> dict:
    out = {
        "code": loc.code,
        "name": loc.name_zh,
        "name_en": loc.name_en,
        "kind": loc.kind,
        "district": loc.district,
        "address": loc.address,
        "pickup": loc.pickup,
        "ships": loc.ships,
        "opens_on": loc.active_from,
        "closes_on": loc.active_until,
        "opening_hours": loc.opening_hours,
    }
    if operators is not None:
        out["operators"] = [operator_dict(u) for u in operators]
    return out


def operator_dict(u: User) -> dict:
    return {"id": u.id, "email": u.email, "name": u.name}
