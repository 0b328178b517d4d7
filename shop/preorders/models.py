"""Campaigns (a share of a future harvest of one SKU), pledges (orders of kind ``pledge``) and what each
buyer has pledged per campaign (their cap)."""

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Location, Variant
from shop.core.db import db, utcnow

# Stored states; "closed" is shown for an open campaign past its closing time (derived, see status_of).
STORED_STATUSES = ("draft", "open", "harvested", "done")
STATUSES = ("draft", "open", "closed", "harvested", "done")
OUTCOMES = ("fill", "refund")


class Campaign(db.Model):
    """One harvest sold ahead: a SKU, a price, a cap in units and a window for pledges."""

    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint("status IN ('draft','open','harvested','done')", name="status_known"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("cap_units > 0 AND per_buyer_cap > 0", name="caps_positive"),
        # The conditional UPDATE keeps pledges within the cap; this is the backstop.
        CheckConstraint("pledged_units >= 0 AND pledged_units <= cap_units", name="within_cap"),
        CheckConstraint("closes_at > opens_at", name="window_ordered"),
        CheckConstraint("allocated_units >= 0 AND refunded_units >= 0", name="harvest_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160), default="")
    story: Mapped[str] = mapped_column(Text, default="")
    cover_url: Mapped[str] = mapped_column(String(300), default="")
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    # Where the harvest is received and pledges are fulfilled from (a location that ships).
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    price_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    cap_units: Mapped[int] = mapped_column(Integer)
    per_buyer_cap: Mapped[int] = mapped_column(Integer)
    pledged_units: Mapped[int] = mapped_column(Integer, default=0)
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ships_from: Mapped[date] = mapped_column(Date)
    ships_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    harvested_units: Mapped[int | None] = mapped_column(Integer)
    allocated_units: Mapped[int] = mapped_column(Integer, default=0)
    refunded_units: Mapped[int] = mapped_column(Integer, default=0)
    harvest_lot: Mapped[str] = mapped_column(String(60), default="")
    harvested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    variant: Mapped[Variant] = relationship(lazy="joined")
    location: Mapped[Location] = relationship(lazy="joined")

    @property
    def reference_key(self) -> str:
        """The campaign's key in the stock ledger: harvested units held for its pledges."""
        return f"campaign:{self.code}"


class Pledge(db.Model):
    """A buyer's share of a campaign: one order of kind ``pledge`` with one line.

    ``outcome`` and ``seq`` are fixed when the harvest is recorded (fill or refund, in payment order);
    ``settled_at`` when the allocation task has done it, once.
    """

    __tablename__ = "pledge"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("outcome IS NULL OR outcome IN ('fill','refund','skip')", name="outcome_known"),
        Index("ix_pledge_campaign_outcome", "campaign_id", "settled_at", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(10))
    seq: Mapped[int | None] = mapped_column(Integer)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    campaign: Mapped[Campaign] = relationship(lazy="joined")


class CampaignBuyer(db.Model):
    """Units one buyer holds in one campaign (kept within ``per_buyer_cap`` by a conditional UPDATE)."""

    __tablename__ = "campaign_buyer"
    __table_args__ = (CheckConstraint("units >= 0", name="units_nonneg"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)
