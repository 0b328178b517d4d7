"""Product images: upload, process in a worker, order, choose the cover, remove; and how pages and the API
print them.

An upload is checked (``images.inspect_image``) and kept as it came under ``uploads/<key>`` in the
store; the row and an outbox message are written in the caller's unit of work, so the worker's
``process_image`` runs only after the commit. The worker decodes it outside any transaction, writes the
stripped renditions under ``products/<key>/`` and marks the row ready with a conditional UPDATE; then
the upload (still carrying its EXIF) is deleted. Running the task twice rewrites the same files and
changes nothing else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app, url_for
from sqlalchemy import func, select, update

from shop.audit.services import record
from shop.catalog.errors import ProductNotFound
from shop.catalog.models import Product
from shop.core import outbox
from shop.core.db import atomic, db, utcnow
from shop.media import images
from shop.media.errors import BrokenImage, ImageNotFound, StoredFileMissing, TooManyPixels
from shop.media.models import ProductImage
from shop.media.storage import get_store

log = logging.getLogger(__name__)

PROCESS_TASK = "shop.media.process_image"
PURGE_TASK = "shop.media.purge_files"
# Renditions never change under their address (the key is new for every upload).
IMMUTABLE = "public, max-age=31536000, immutable"


def _settings():
    return current_app.extensions["settings"]


def upload_key(key: str) -> str:
    return f"uploads/{key}"


def rendition_key(key: str, name: str) -> str:
    return f"products/{key}/{name}"


def add_product_image(product_id: int, data: bytes, *, actor=None) -> ProductImage:
    """Check an uploaded image, keep it, and queue its processing; the image is last in the product's
    order (the cover when it is the first)."""
    product = db.session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(f"product {product_id} does not exist")
    settings = _settings()
    found = images.inspect_image(data, max_pixels=settings.MEDIA_MAX_PIXELS)
    key = uuid.uuid4().hex
    # Written before the commit: a rolled-back upload leaves an unreferenced file under uploads/, never
    # a row without its file.
    get_store().put(upload_key(key), data, content_type=found.content_type)
    last = db.session.scalar(
        select(func.max(ProductImage.position)).where(ProductImage.product_id == product.id)
    )
    image = ProductImage(
        product_id=product.id,
        key=key,
        position=0 if last is None else last + 1,
        status="pending",
        source_format=found.format,
        source_bytes=len(data),
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(image)
    db.session.flush()
    outbox.enqueue(PROCESS_TASK, {"image_id": image.id})
    record(
        actor,
        "product.image_added",
        target_type="product",
        target_id=product.id,
        image_id=image.id,
        format=found.format,
        width=found.width,
        height=found.height,
        bytes=len(data),
    )
    return image


def process_image(image_id: int) -> str:
    """Make a pending image's renditions (the worker's side); return what happened."""
    image = db.session.get(ProductImage, image_id)
    if image is None:
        return "gone"
    if image.status != "pending":
        return image.status
    key = image.key
    db.session.rollback()  # no transaction open while decoding
    store = get_store()
    try:
        data = store.get(upload_key(key))
        rendered = images.render(data, max_pixels=_settings().MEDIA_MAX_PIXELS)
    except (BrokenImage, TooManyPixels, StoredFileMissing) as err:
        with atomic():
            db.session.execute(
                update(ProductImage)
                .where(ProductImage.id == image_id, ProductImage.status == "pending")
                .values(status="failed", error=err.detail[:500], processed_at=utcnow())
            )
        store.delete(upload_key(key))
        log.warning("image %s could not be processed: %s", image_id, err.detail)
        return "failed"
    for name, (content, content_type) in rendered.files.items():
        store.put(rendition_key(key, name), content, content_type=content_type, cache_control=IMMUTABLE)
    with atomic():
        db.session.execute(
            update(ProductImage)
            .where(ProductImage.id == image_id, ProductImage.status == "pending")
            .values(
                status="ready", width=rendered.width, height=rendered.height, error="", processed_at=utcnow()
            )
        )
    store.delete(upload_key(key))  # the only copy that still had the EXIF
    return "ready"


def purge_files(key: str) -> None:
    """Delete an image's files from the store (after its row is gone)."""
    store = get_store()
    names = ["master.jpg"] + [f"{w}.{ext}" for w in images.WIDTHS for ext in images.RENDITION_TYPES]
    for name in names:
        store.delete(rendition_key(key, name))
    store.delete(upload_key(key))


def get_image(image_id: int) -> ProductImage:
    image = db.session.get(ProductImage, image_id)
    if image is None:
        raise ImageNotFound(f"image {image_id} does not exist")
    return image


def remove_image(image_id: int, *, actor=None) -> int:
    """Remove an image from its product (its files are deleted after the commit); return the product id."""
    image = get_image(image_id)
    product_id, key = image.product_id, image.key
    db.session.delete(image)
    db.session.flush()
    outbox.enqueue(PURGE_TASK, {"key": key})
    record(actor, "product.image_removed", target_type="product", target_id=product_id, image_id=image_id)
    return product_id


def reorder_images(product_id: int, ordered_ids: list[int], *, actor=None) -> list[ProductImage]:
    """Put the product's images in this order (ids not named keep their order after these); the first is
    the cover."""
    rows = list(
        db.session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.position, ProductImage.id)
            .with_for_update()
        )
    )
    by_id = {r.id: r for r in rows}
    unknown = [i for i in ordered_ids if i not in by_id]
    if unknown:
        raise ImageNotFound(f"image {unknown[0]} is not an image of product {product_id}")
    seen = set()
    first = [by_id[i] for i in ordered_ids if not (i in seen or seen.add(i))]
    final = first + [r for r in rows if r.id not in seen]
    for position, row in enumerate(final):
        row.position = position
    db.session.flush()
    record(
        actor,
        "product.images_reordered",
        target_type="product",
        target_id=product_id,
        order=[r.id for r in final],
    )
    return final


def make_cover(image_id: int, *, actor=None) -> ProductImage:
    image = get_image(image_id)
    reorder_images(image.product_id, [image_id], actor=actor)
    return image


# -- how images are printed --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageView:
    """A ready image as pages and the API show it."""

    id: int
    key: str
    width: int
    height: int
    cover: bool

    def url(self, width: int = images.DEFAULT_WIDTH, fmt: str = "jpg") -> str:
        if width not in images.WIDTHS or fmt not in images.RENDITION_TYPES:
            raise ValueError(f"no rendition {width}.{fmt}")
        return media_url(rendition_key(self.key, f"{width}.{fmt}"))

    def size(self, width: int = images.DEFAULT_WIDTH) -> tuple[int, int]:
        return images.rendition_size(self.width, self.height, width)

    def srcset(self, fmt: str = "jpg") -> str:
        seen: dict[int, int] = {}
        for w in images.WIDTHS:
            real = self.size(w)[0]
            seen.setdefault(real, w)
        return ", ".join(f"{self.url(w, fmt)} {real}w" for real, w in seen.items())

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "url": self.url(960),
            "cover": self.cover,
            "width": self.width,
            "height": self.height,
            "renditions": [
                {
                    "width": self.size(w)[0],
                    "height": self.size(w)[1],
                    "jpeg": self.url(w, "jpg"),
                    "webp": self.url(w, "webp"),
                }
                for w in images.WIDTHS
            ],
        }


def media_url(key: str) -> str:
    """Where a browser fetches a public file: the configured public base, or the shop's /media/."""
    base = _settings().MEDIA_PUBLIC_BASE_URL
    if base:
        return f"{base.rstrip('/')}/{key}"
    return url_for("media.serve", key=key)


def images_for(product_ids: Iterable[int]) -> dict[int, list[ImageView]]:
    """The ready images of these products in their order (one query), the cover first."""
    ids = sorted(set(product_ids))
    out: dict[int, list[ImageView]] = {pid: [] for pid in ids}
    if not ids:
        return out
    rows = db.session.execute(
        select(
            ProductImage.id,
            ProductImage.product_id,
            ProductImage.key,
            ProductImage.width,
            ProductImage.height,
        )
        .where(ProductImage.product_id.in_(ids), ProductImage.status == "ready")
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
    )
    for image_id, product_id, key, width, height in rows:
        views = out[product_id]
        views.append(ImageView(image_id, key, width or 0, height or 0, cover=not views))
    return out


def cover_of(product_id: int) -> ImageView | None:
    views = images_for([product_id]).get(product_id) or []
    return views[0] if views else None


def all_images(product_id: int) -> list[ProductImage]:
    """Every image of a product, pending and failed too (the back office's view)."""
    return list(
        db.session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    )


def is_pending(key: str) -> bool:
    """Whether the image with this key is waiting for its renditions (so its URL will work soon)."""
    return db.session.scalar(select(ProductImage.status).where(ProductImage.key == key)) == "pending"
