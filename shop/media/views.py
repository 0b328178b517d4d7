"""Serving product image renditions under /media/, and the template helpers that print them.

Renditions are public and never change under their address, so they are sent with a year-long
``immutable`` cache header. Only rendition addresses are served here (never an upload, which may still
carry EXIF, nor a certificate scan). A rendition still being made answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, send_file

from shop.media import services
from shop.media.errors import StoredFileMissing
from shop.media.images import WIDTHS
from shop.media.storage import get_store

bp = Blueprint("media", __name__)

_WIDTHS = "|".join(map(str, WIDTHS))
_RENDITION = re.compile(rf"products/([0-9a-f]{{32}})/(?:master\.jpg|(?:{_WIDTHS})\.(?:webp|jpg))")
MAX_AGE = 31_536_000


@bp.get("/media/<path:key>")
def serve(key: str):
    match = _RENDITION.fullmatch(key)
    if match is None:
        abort(404)
    content_type = "image/webp" if key.endswith(".webp") else "image/jpeg"
    store = get_store()
    path = store.local_path(key)
    if path is not None:
        resp = send_file(path, mimetype=content_type, max_age=MAX_AGE, conditional=True, etag=True)
    else:
        try:
            data = store.get(key)
        except StoredFileMissing:
            data = None
        if data is None:
            if services.is_pending(match.group(1)):
                resp = Response("the image is being prepared", status=503, mimetype="text/plain")
                resp.headers["Retry-After"] = "2"
                resp.headers["Cache-Control"] = "no-store"
                return resp
            abort(404)
        resp = Response(data, mimetype=content_type)
    resp.headers["Cache-Control"] = services.IMMUTABLE
    return resp


@bp.app_template_global()
def product_images(product_id: int) -> list[services.ImageView]:
    """``{% for img in product_images(product.id) %}``: the product's ready images, cover first."""
    return services.images_for([product_id])[product_id]


@bp.app_template_global()
def product_cover(product_id: int) -> services.ImageView | None:
    """``{{ picture(product_cover(product.id), alt=...) }}`` (macro in media/_image.html)."""
    return services.cover_of(product_id)
