"""Storefront pages: home, product list, product page (server-rendered, Chinese first)."""

from __future__ import annotations

from flask import Blueprint, render_template, request, session, url_for

from shop.catalog import search, services
from shop.catalog.cache import cached_public
from shop.catalog.errors import BadFilter
from shop.core import clock
from shop.inventory.queries import availability
from shop.media.services import images_for
from shop.storefront import services as storefront

bp = Blueprint("catalog", __name__)

PER_PAGE = 20


SORTS = ("popular", "price", "newest")


def _progress() -> dict | None:
    return storefront.aid_story()


def _covers(rows) -> dict:
    """Each listed product's cover (one query for the page)."""
    return {pid: imgs[0] for pid, imgs in images_for(p.id for p in rows).items() if imgs}


@bp.get("/")
def home():
    rows, _total = services.list_products(page=1, per_page=8)
    avail = availability(v.id for p in rows for v in p.variants)
    return render_template(
        "catalog/home.html",
        categories=services.list_categories(),
        products=rows,
        avail=avail,
        progress=_progress(),
        townships=services.list_townships(),
        covers=_covers(rows),
    )


@bp.get("/categories")
def categories():
    return render_template(
        "catalog/categories.html",
        categories=services.list_categories(),
        townships=services.list_townships(),
    )


@bp.get("/products")
@cached_public
def products():
    page = request.args.get("page", 1, type=int) or 1
    filters = {
        "category": request.args.get("category") or None,
        "township": request.args.get("township") or None,
        "q": (request.args.get("q") or "").strip()[:100] or None,
        "producer": request.args.get("producer", type=int),
        "sort": request.args.get("sort") if request.args.get("sort") in SORTS else None,
    }
    try:
        rows, total = services.list_products(page=max(page, 1), per_page=PER_PAGE, **filters)
    except BadFilter:
        filters["category"] = None
        rows, total = services.list_products(page=max(page, 1), per_page=PER_PAGE, **filters)
    avail = availability(v.id for p in rows for v in p.variants)
    return render_template(
        "catalog/products.html",
        covers=_covers(rows),
        suggestions=search.suggestions() if not rows else [],
        products=rows,
        avail=avail,
        total=total,
        page=page,
        pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
        filters=filters,
        filter_args={k: v for k, v in filters.items() if v},
        categories=services.list_categories(),
        townships=services.list_townships(),
        progress=_progress(),
    )


@bp.get("/products/<slug>")
@cached_public
def product(slug: str):
    prod = services.get_product_by_slug(slug)
    ids = [v.id for v in prod.variants]
    avail = availability(ids)
    today = clock.today()
    choice = storefront.delivery_choice(session)
    return render_template(
        "catalog/product.html",
        product=prod,
        avail=avail,
        choice=choice,
        here=storefront.availability_for(ids, choice),
        lots=storefront.next_lots([v.id for v in prod.variants if v.perishable], choice),
        halls=storefront.pickup_halls(),
        images=images_for([prod.id]).get(prod.id, []),
        short_path=url_for("storefront.short_product", product_id=prod.id),
        certificate=prod.producer.certificate_on(today),
        pickup_locations=services.list_locations(kind="hall", on=today),
        progress=_progress(),
    )


@bp.get("/producers/<int:producer_id>")
def producer(producer_id: int):
    prod = services.get_producer(producer_id)
    rows, _ = services.list_products(page=1, per_page=50, producer=producer_id)
    avail = availability(v.id for p in rows for v in p.variants)
    return render_template(
        "catalog/producer.html",
        producer=prod,
        products=rows,
        avail=avail,
        certificate=prod.certificate_on(clock.today()),
        progress=_progress(),
    )
