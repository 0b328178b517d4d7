from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Location, Variant
from shop.core.db import db, utcnow


class StockLevel(db.Model):
    """On hand and reserved units of one variant at one location.

    Changed only by the services in ``shop.inventory.services``, always together with a movement, and
    always with conditional SQL increments so concurrent writers cannot take more than there is.
    """

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("variant_id", "location_id"),
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("on_hand >= reserved", name="on_hand_covers_reserved"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer)

    variant: Mapped[Variant] = relationship(lazy="joined")
    location: Mapped[Location] = relationship(lazy="joined")

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Lot(db.Model):
    """A batch of one variant at one location: harvest or production date, best-before, quantity.

    Non-perishable stock lives in lots too (code ``-`` when none was given), so the lot quantities at a
    location always add up to the level's on hand.
    """

    __tablename__ = "lot"
    __table_args__ = (
        UniqueConstraint("variant_id", "location_id", "code"),
        CheckConstraint("quantity >= 0", name="quantity_nonneg"),
        Index("ix_lot_fefo", "variant_id", "location_id", "best_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    code: Mapped[str] = mapped_column(String(60))
    harvested_on: Mapped[date | None] = mapped_column(Date)
    best_before: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    variant: Mapped[Variant] = relationship(lazy="joined")


class StockMovement(db.Model):
    """One line of the append-only stock ledger.

    ``quantity`` is the signed change of on hand at ``location_id`` (and of the lot, when ``lot_id`` is
    set); ``reserved_delta`` the signed change of reserved. Summing a level's movements gives the level.
    """

    __tablename__ = "stock_movement"
    __table_args__ = (
        Index("ix_stock_movement_level", "variant_id", "location_id"),
        Index("ix_stock_movement_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    variant: Mapped[Variant] = relationship(lazy="joined")
    lot: Mapped[Lot | None] = relationship(lazy="joined")
