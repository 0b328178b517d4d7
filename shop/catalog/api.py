"""Public catalogue endpoints under /api/v1."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.catalog import services
from shop.catalog.cache import cached_public
from shop.catalog.schemas import (
    LocationArgs,
    LocationListSchema,
    ProducerArgs,
    ProducerPageSchema,
    ProducerSchema,
    ProductArgs,
    ProductDetailSchema,
    ProductPageSchema,
    location_dict,
    producer_dict,
    product_dict,
)
from shop.core import clock
from shop.inventory.queries import availability
from shop.media.services import images_for

blp = Blueprint("catalog_api", __name__, url_prefix="/api/v1", description="Catalogue (public)")


@blp.route("/products")
@cached_public
@blp.arguments(ProductArgs, location="query")
@blp.response(200, ProductPageSchema)
def list_products(args: dict):
    """List active products, filtered by category, producer, township or a search text."""
    page, per_page = args.pop("page"), args.pop("per_page")
    rows, total = services.list_products(page=page, per_page=per_page, **args)
    avail = availability(v.id for p in rows for v in p.variants)
    imgs = images_for(p.id for p in rows)
    today = clock.today()
    return {
        "items": [product_dict(p, avail, today, images=imgs[p.id]) for p in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }


@blp.route("/products/<int:product_id>")
@cached_public
@blp.response(200, ProductDetailSchema)
def get_product(product_id: int):
    """One product with its variants, availability and the producer's aid certificate."""
    product = services.get_product(product_id)
    avail = availability(v.id for v in product.variants)
    imgs = images_for([product.id])[product.id]
    return product_dict(product, avail, clock.today(), detail=True, images=imgs)


@blp.route("/producers")
@blp.arguments(ProducerArgs, location="query")
@blp.response(200, ProducerPageSchema)
def list_producers(args: dict):
    """List producers with their township, certificate and linked poor households."""
    rows, total = services.list_producers(**args)
    today = clock.today()
    return {
        "items": [producer_dict(p, today, full=True) for p in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/producers/<int:producer_id>")
@blp.response(200, ProducerSchema)
def get_producer(producer_id: int):
    """One producer."""
    return producer_dict(services.get_producer(producer_id), clock.today(), full=True)


@blp.route("/locations")
@blp.arguments(LocationArgs, location="query")
@blp.response(200, LocationListSchema)
def list_locations(args: dict):
    """The warehouse, the exhibition halls and fair booths; ``pickup`` tells where orders can be collected."""
    return {"items": [location_dict(loc) for loc in services.list_locations(kind=args.get("kind"))]}
