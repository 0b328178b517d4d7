"""The back office's JSON API under /api/v1/admin: producers, certificates' scans, categories, products,
variants, images, locations and their operators (admin token; aid officers for certificates)."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app, url_for
from flask_smorest import Blueprint
from flask_smorest.fields import Upload

from shop.accounts.auth import api_user, require_role
from shop.backoffice import locations, producers, products
from shop.backoffice.schemas import (
    CategoryInSchema,
    CategorySchema,
    CertificateExpiryArgs,
    CertificateExpiryListSchema,
    DocumentSchema,
    ImageAdminSchema,
    ImageListSchema,
    ImageOrderSchema,
    LocationAdminSchema,
    LocationInSchema,
    LocationPatchSchema,
    OperatorInSchema,
    OperatorListSchema,
    PriceHistorySchema,
    ProducerAdminPageSchema,
    ProducerAdminSchema,
    ProducerArgs,
    ProducerInSchema,
    ProducerPatchSchema,
    ProductAdminArgs,
    ProductAdminPageSchema,
    ProductAdminSchema,
    ProductInSchema,
    ProductPatchSchema,
    VariantAdminSchema,
    VariantInSchema,
    VariantPatchSchema,
    category_dict,
    document_dict,
    expiring_dict,
    image_admin_dict,
    location_admin_dict,
    operator_dict,
    price_change_dict,
    producer_admin_dict,
    product_admin_dict,
    variant_admin_dict,
)
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.core.inputs import accepts_upload
from shop.media import services as media
from shop.media.errors import UploadTooLarge

blp = Blueprint(
    "backoffice_api", __name__, url_prefix="/api/v1/admin", description="Back office (admin token)"
)
SECURED = [{"bearerAuth": []}]
OFFICERS = ("admin", "aid_officer")


class FileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "the file; its content decides what it is"})


def _read_upload(data: dict) -> bytes:
    """The uploaded file's bytes, refusing more than MEDIA_MAX_UPLOAD_BYTES (whatever the client said)."""
    limit = current_app.extensions["settings"].MEDIA_MAX_UPLOAD_BYTES
    content = data["file"].read(limit + 1)
    if len(content) > limit:
        raise UploadTooLarge(
            f"the file is larger than {limit // (1024 * 1024)} MB",
            errors=[{"field": "file", "message": "larger than the limit"}],
        )
    return content


def _docs(producer) -> set[int]:
    return {c.id for c in producer.certificates if producers.document_of(c) is not None}


def _product_out(product) -> dict:
    return product_admin_dict(product, media.images_for([product.id])[product.id])


# -- producers and certificates ----------------------------------------------------------------------


@blp.route("/producers", methods=["POST"])
@idempotent
@require_role("admin")
@blp.arguments(ProducerInSchema)
@blp.response(201, ProducerAdminSchema)
@blp.doc(security=SECURED)
def create_producer(data: dict):
    """Onboard a producer (a code already taken: 409 naming it)."""
    with atomic():
        producer = producers.create_producer(actor=api_user(), **data)
        return producer_admin_dict(producer)


@blp.route("/producers", methods=["GET"])
@require_role("admin", "aid_officer")
@blp.arguments(ProducerArgs, location="query")
@blp.response(200, ProducerAdminPageSchema)
@blp.doc(security=SECURED)
def list_producers(args: dict):
    """Every producer, deactivated ones too."""
    rows, total = producers.list_producers(**args)
    return {
        "items": [producer_admin_dict(p, _docs(p)) for p in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/producers/<code>", methods=["GET"])
@require_role("admin", "aid_officer")
@blp.response(200, ProducerAdminSchema)
@blp.doc(security=SECURED)
def get_producer(code: str):
    """One producer with its certificates."""
    producer = producers.get_producer_by_code(code)
    return producer_admin_dict(producer, _docs(producer))


@blp.route("/producers/<code>", methods=["PATCH"])
@require_role("admin")
@blp.arguments(ProducerPatchSchema)
@blp.response(200, ProducerAdminSchema)
@blp.doc(security=SECURED)
def update_producer(data: dict, code: str):
    """Change a producer's details, fee (``fee_bp``) or whether it is active (deactivating takes its
    products off sale)."""
    with atomic():
        producer = producers.update_producer(code, actor=api_user(), **data)
        return producer_admin_dict(producer, _docs(producer))


@blp.route("/certificates/expiring", methods=["GET"])
@require_role(*OFFICERS)
@blp.arguments(CertificateExpiryArgs, location="query")
@blp.response(200, CertificateExpiryListSchema)
@blp.doc(security=SECURED)
def expiring_certificates(args: dict):
    """Certificates in force that end within ``days`` days (30 by default), soonest first."""
    return {"items": [expiring_dict(r) for r in producers.expiring_certificates(within_days=args["days"])]}


@blp.route("/certificates/<string:number>/document", methods=["POST"])
@accepts_upload
@idempotent
@require_role(*OFFICERS)
@blp.arguments(FileSchema, location="files")
@blp.response(201, DocumentSchema)
@blp.doc(security=SECURED)
def upload_certificate_document(data: dict, number: str):
    """Keep the scanned certificate (PDF, JPEG, PNG or WebP, at most 8 MB) with it; replaces an earlier one."""
    content = _read_upload(data)
    with atomic():
        doc = producers.attach_certificate_document(
            number,
            content,
            max_pixels=current_app.extensions["settings"].MEDIA_MAX_PIXELS,
            actor=api_user(),
        )
        url = url_for("backoffice_api.certificate_document", number=number)
        return document_dict(number, doc, url)


@blp.route("/certificates/<string:number>/document", methods=["GET"])
@require_role(*OFFICERS)
@blp.doc(security=SECURED, responses={200: {"description": "the scanned document"}})
def certificate_document(number: str):
    """The scanned certificate, as it was uploaded."""
    return document_response(*producers.read_certificate_document(number), number=number)


def document_response(content: bytes, content_type: str, ext: str, *, number: str) -> Response:
    """A certificate scan for staff: never cached, never run as a page (sandboxed)."""
    resp = Response(content, mimetype=content_type)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in number)[:80]
    resp.headers["Content-Disposition"] = f'inline; filename="certificate-{safe}.{ext}"'
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    return resp


# -- categories, products, variants, images ----------------------------------------------------------


@blp.route("/categories", methods=["POST"])
@idempotent
@require_role("admin")
@blp.arguments(CategoryInSchema)
@blp.response(201, CategorySchema)
@blp.doc(security=SECURED)
def create_category(data: dict):
    """Add a catalogue category."""
    with atomic():
        return category_dict(products.create_category(actor=api_user(), **data))


@blp.route("/products", methods=["POST"])
@idempotent
@require_role("admin")
@blp.arguments(ProductInSchema)
@blp.response(201, ProductAdminSchema)
@blp.doc(security=SECURED)
def create_product(data: dict):
    """Create a product with its variants; it is in the catalogue at once. A SKU already taken: 409."""
    with atomic():
        product = products.create_product(actor=api_user(), **data)
        return _product_out(product)


@blp.route("/products", methods=["GET"])
@require_role("admin")
@blp.arguments(ProductAdminArgs, location="query")
@blp.response(200, ProductAdminPageSchema)
@blp.doc(security=SECURED)
def list_products(args: dict):
    """Every product, off sale ones too."""
    page, per_page = args.pop("page"), args.pop("per_page")
    rows, total = products.list_products(page=page, per_page=per_page, **args)
    imgs = media.images_for(p.id for p in rows)
    return {
        "items": [product_admin_dict(p, imgs[p.id]) for p in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }


@blp.route("/products/<int:product_id>", methods=["GET"])
@require_role("admin")
@blp.response(200, ProductAdminSchema)
@blp.doc(security=SECURED)
def get_product(product_id: int):
    """One product, on sale or not."""
    return _product_out(products.get_product(product_id))


@blp.route("/products/<int:product_id>", methods=["PATCH"])
@require_role("admin")
@blp.arguments(ProductPatchSchema)
@blp.response(200, ProductAdminSchema)
@blp.doc(security=SECURED)
def update_product(data: dict, product_id: int):
    """Change a product's texts or category, or take it off sale (orders already placed go on)."""
    with atomic():
        product = products.update_product(product_id, actor=api_user(), **data)
        return _product_out(product)


@blp.route("/products/<int:product_id>/variants", methods=["POST"])
@idempotent
@require_role("admin")
@blp.arguments(VariantInSchema)
@blp.response(201, VariantAdminSchema)
@blp.doc(security=SECURED)
def add_variant(data: dict, product_id: int):
    """Add a variant to a product (a SKU already taken: 409)."""
    with atomic():
        return variant_admin_dict(products.add_variant(product_id, actor=api_user(), **data))


@blp.route("/variants/<sku>", methods=["PATCH"])
@require_role("admin")
@blp.arguments(VariantPatchSchema)
@blp.response(200, VariantAdminSchema)
@blp.doc(security=SECURED)
def update_variant(data: dict, sku: str):
    """Change a variant: a new price applies to orders placed after it and is kept in the price history."""
    with atomic():
        return variant_admin_dict(products.update_variant(sku, actor=api_user(), **data))


@blp.route("/products/<int:product_id>/prices", methods=["GET"])
@require_role("admin")
@blp.response(200, PriceHistorySchema)
@blp.doc(security=SECURED)
def price_history(product_id: int):
    """Every price change of the product's variants: who, when, old and new, newest first."""
    product = products.get_product(product_id)
    return {"items": [price_change_dict(c, sku) for c, sku in products.price_history(product)]}


@blp.route("/products/<int:product_id>/images", methods=["POST"])
@accepts_upload
@idempotent
@require_role("admin")
@blp.arguments(FileSchema, location="files")
@blp.response(201, ImageAdminSchema)
@blp.doc(security=SECURED)
def upload_image(data: dict, product_id: int):
    """Add a photo (JPEG, PNG or WebP, at most 8 MB): 415 for other content, 413 when too large, 422 for
    a damaged image or one with too many pixels. Renditions are made by a worker; ``url`` answers 503
    with Retry-After until they are ready."""
    content = _read_upload(data)
    with atomic():
        image = media.add_product_image(product_id, content, actor=api_user())
        return image_admin_dict(image, media.media_url(media.rendition_key(image.key, "960.jpg")))


@blp.route("/products/<int:product_id>/images", methods=["GET"])
@require_role("admin")
@blp.response(200, ImageListSchema)
@blp.doc(security=SECURED)
def list_images(product_id: int):
    """The product's images in order (the first is the cover), with their processing status."""
    products.get_product(product_id)
    return {"items": _image_list(product_id)}


def _image_list(product_id: int) -> list[dict]:
    return [
        image_admin_dict(img, media.media_url(media.rendition_key(img.key, "960.jpg")))
        for img in media.all_images(product_id)
    ]


@blp.route("/products/<int:product_id>/images/order", methods=["PUT"])
@require_role("admin")
@blp.arguments(ImageOrderSchema)
@blp.response(200, ImageListSchema)
@blp.doc(security=SECURED)
def reorder_images(data: dict, product_id: int):
    """Put the images in this order; the first is the cover."""
    with atomic():
        products.get_product(product_id)
        media.reorder_images(product_id, data["ids"], actor=api_user())
    return {"items": _image_list(product_id)}


@blp.route("/images/<int:image_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
@blp.doc(security=SECURED)
def delete_image(image_id: int):
    """Remove an image from its product; its files are deleted afterwards."""
    with atomic():
        media.remove_image(image_id, actor=api_user())


# -- locations and operators ---------------------------------------------------------------------------


@blp.route("/locations", methods=["POST"])
@idempotent
@require_role("admin")
@blp.arguments(LocationInSchema)
@blp.response(201, LocationAdminSchema)
@blp.doc(security=SECURED)
def create_location(data: dict):
    """Open a hall, warehouse or fair booth (a fair booth needs ``opens_on`` and ``closes_on``: nothing
    sells there outside them). A code already taken: 409."""
    with atomic():
        return location_admin_dict(locations.create_location(actor=api_user(), **data), [])


@blp.route("/locations/<code>", methods=["GET"])
@require_role("admin")
@blp.response(200, LocationAdminSchema)
@blp.doc(security=SECURED)
def get_location(code: str):
    """One location with the operators who work there."""
    loc = locations.get_location(code)
    return location_admin_dict(loc, locations.operators_of(loc))


@blp.route("/locations/<code>", methods=["PATCH"])
@require_role("admin")
@blp.arguments(LocationPatchSchema)
@blp.response(200, LocationAdminSchema)
@blp.doc(security=SECURED)
def update_location(data: dict, code: str):
    """Change a location's names, address, pickup, opening hours or dates."""
    with atomic():
        loc = locations.update_location(code, actor=api_user(), **data)
        return location_admin_dict(loc, locations.operators_of(loc))


@blp.route("/locations/<code>/operators", methods=["GET"])
@require_role("admin")
@blp.response(200, OperatorListSchema)
@blp.doc(security=SECURED)
def list_operators(code: str):
    """The operators who work at this location."""
    return {"items": [operator_dict(u) for u in locations.operators_of(locations.get_location(code))]}


@blp.route("/locations/<code>/operators", methods=["POST"])
@idempotent
@require_role("admin")
@blp.arguments(OperatorInSchema)
@blp.response(201, OperatorListSchema)
@blp.doc(security=SECURED)
def assign_operator(data: dict, code: str):
    """Let an operator (by email) act at this location too."""
    with atomic():
        locations.assign_operator(code, email=data["email"], actor=api_user())
    return {"items": [operator_dict(u) for u in locations.operators_of(locations.get_location(code))]}


@blp.route("/locations/<code>/operators/<int:user_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
@blp.doc(security=SECURED)
def remove_operator(code: str, user_id: int):
    """Stop an operator acting at this location (at once)."""
    with atomic():
        locations.remove_operator(code, user_id=user_id, actor=api_user())
