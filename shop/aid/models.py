from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow

CHANNELS = ("online", "hall", "fair", "subscription", "charity_sale", "work_unit")


class AidProgramme(db.Model):
    """A reporting period with a consumption-aid target, e.g. Dongli-Gangu 2026, 50 million yuan."""

    __tablename__ = "aid_programme"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("target_fen > 0", name="target_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(160))
    name_en: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    target_fen: Mapped[int] = mapped_column(BigInteger)


class AidEntry(db.Model):
    """One line of the append-only aid ledger: a sale line counted (or a refund reversing it).

    ``source_key`` is unique, so the same sale line can never be counted twice, however often a webhook,
    a counter-sale replay or a task retry delivers it. Dimensions are snapshotted at the time of sale.
    """

    __tablename__ = "aid_entry"
    __table_args__ = (
        UniqueConstraint("source_key"),
        CheckConstraint(
            "channel IN ('online','hall','fair','subscription','charity_sale','work_unit')",
            name="channel_known",
        ),
        Index("ix_aid_entry_programme_day", "programme_id", "day"),
        Index("ix_aid_entry_source", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("aid_programme.id"))
    source: Mapped[str] = mapped_column(String(80))  # e.g. "order:12", "counter-sale:7", "refund:3"
    source_key: Mapped[str] = mapped_column(String(120))  # source + line, unique
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("aid_entry.id"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)  # local (Asia/Shanghai) date of the sale or refund
    channel: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"))
    township: Mapped[str] = mapped_column(String(60))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    qualifying: Mapped[bool] = mapped_column(Boolean)
    certificate_number: Mapped[str | None] = mapped_column(String(80))
    direct_purchase: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AidRollup(db.Model):
    """Running sums of the ledger per day and reporting dimensions, updated in the entry's transaction.

    Totals read these rows, so they cost the same at a thousand or ten million entries.
    ``location_id`` is 0 for sales without a location (so the unique key has no NULLs).
    """

    __tablename__ = "aid_rollup"
    __table_args__ = (
        UniqueConstraint(
            "programme_id",
            "day",
            "channel",
            "category_id",
            "producer_id",
            "township",
            "location_id",
            "qualifying",
            "direct_purchase",
            name="uq_aid_rollup_dims",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("aid_programme.id"))
    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int] = mapped_column(Integer)
    producer_id: Mapped[int] = mapped_column(Integer)
    township: Mapped[str] = mapped_column(String(60))
    location_id: Mapped[int] = mapped_column(Integer)
    qualifying: Mapped[bool] = mapped_column(Boolean)
    direct_purchase: Mapped[bool] = mapped_column(Boolean)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    entries: Mapped[int] = mapped_column(Integer, default=0)
