from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow


class PriceChange(db.Model):
    """One change of a variant's price: who, when, from what to what (append-only).

    Orders keep the price they were placed at (their lines' snapshot), so a change applies to orders
    placed after it and never to one already placed.
    """

    __tablename__ = "price_change"
    __table_args__ = (
        CheckConstraint("old_price_fen > 0 AND new_price_fen > 0", name="prices_positive"),
        Index("ix_price_change_variant", "variant_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    old_price_fen: Mapped[int] = mapped_column(Integer)
    new_price_fen: Mapped[int] = mapped_column(Integer)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    changed_by_email: Mapped[str] = mapped_column(String(254), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CertificateDocument(db.Model):
    """The scanned aid certificate (PDF or image) kept with its certificate; staff read it through the
    shop, never from a public address. A new upload replaces the old one."""

    __tablename__ = "certificate_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("aid_certificate.id", ondelete="CASCADE"), unique=True
    )
    key: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
