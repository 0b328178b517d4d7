from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow

IMAGE_STATUSES = ("pending", "ready", "failed")


class ProductImage(db.Model):
    """A product photo: the upload waits as ``pending`` until a worker has stripped its metadata and made
    its renditions (``ready``); an upload that cannot be decoded ends ``failed`` with the reason.

    Files live in the media store under ``products/<key>/``; ``key`` is random, so a rendition's address
    never changes and can be cached for a year. The product's images are shown by ``position``; the
    first is the cover.
    """

    __tablename__ = "product_image"
    __table_args__ = (
        CheckConstraint("status IN ('pending','ready','failed')", name="status_known"),
        Index("ix_product_image_product", "product_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    source_format: Mapped[str] = mapped_column(String(10))  # JPEG, PNG, WEBP: what Pillow found
    source_bytes: Mapped[int] = mapped_column(Integer)
    # Of the stripped master (at most MASTER_WIDTH wide), once ready.
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
