from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.core.db import db, utcnow


class Category(db.Model):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Producer(db.Model):
    """A Gangu cooperative or company whose products count as consumption aid when certified."""

    __tablename__ = "producer"
    __table_args__ = (
        CheckConstraint("linked_households >= 0", name="households_nonneg"),
        CheckConstraint("linked_people >= 0", name="people_nonneg"),
        CheckConstraint("fee_bp >= 0 AND fee_bp <= 10000", name="fee_bp_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160))
    legal_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # cooperative, company, leading_enterprise
    township: Mapped[str] = mapped_column(String(60), index=True)
    township_en: Mapped[str] = mapped_column(String(80), default="")
    village: Mapped[str] = mapped_column(String(60), default="")
    linked_households: Mapped[int] = mapped_column(Integer, default=0)
    linked_people: Mapped[int] = mapped_column(Integer, default=0)
    benefit_mechanism_zh: Mapped[str] = mapped_column(Text, default="")
    benefit_mechanism_en: Mapped[str] = mapped_column(Text, default="")
    story_zh: Mapped[str] = mapped_column(Text, default="")
    story_en: Mapped[str] = mapped_column(Text, default="")
    # The shop's fee on this producer's sales, in basis points (100 = 1 %), taken at settlement.
    fee_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A deactivated producer's products are off sale; its history (orders, aid entries) stays.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())

    certificates: Mapped[list[AidCertificate]] = relationship(
        back_populates="producer", order_by="AidCertificate.valid_from", lazy="selectin"
    )

    def certificate_on(self, day: date) -> AidCertificate | None:
        """Return the aid certificate valid on ``day``, if any."""
        for cert in self.certificates:
            if cert.valid_from <= day <= cert.valid_until and not cert.revoked:
                return cert
        return None


class AidCertificate(db.Model):
    """A county's certification (认定) that a producer's products bring income to poor households."""

    __tablename__ = "aid_certificate"
    __table_args__ = (CheckConstraint("valid_until >= valid_from", name="valid_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"), index=True)
    number: Mapped[str] = mapped_column(String(80), unique=True)
    issuer: Mapped[str] = mapped_column(String(160))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    producer: Mapped[Producer] = relationship(back_populates="certificates")


class Product(db.Model):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    origin_mark: Mapped[str] = mapped_column(String(120), default="")  # GI or brand, e.g. 甘味
    image: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Lower-case text the storefront search matches: names, pinyin, initials, SKUs, producer, township
    # (shop.catalog.search keeps it current when the product, its variants or its producer change).
    search_key: Mapped[str] = mapped_column(Text, default="", server_default="")

    category: Mapped[Category] = relationship(lazy="joined")
    producer: Mapped[Producer] = relationship(lazy="joined")
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.id", lazy="selectin"
    )


class Variant(db.Model):
    """A sellable SKU: its price in fen, unit, weight and whether (and how long) it keeps."""

    __tablename__ = "variant"
    __table_args__ = (
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("weight_grams >= 0", name="weight_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    sku: Mapped[str] = mapped_column(String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160))
    unit_zh: Mapped[str] = mapped_column(String(30))
    unit_en: Mapped[str] = mapped_column(String(40))
    weight_grams: Mapped[int] = mapped_column(Integer, default=0)
    price_fen: Mapped[int] = mapped_column(Integer)
    perishable: Mapped[bool] = mapped_column(Boolean, default=False)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=5)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product: Mapped[Product] = relationship(back_populates="variants")


class Location(db.Model):
    """Where stock lives: the Gangu warehouse, a Dongli exhibition hall, a fair booth."""

    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(20))  # warehouse, hall, fair, fulfilment
    district: Mapped[str] = mapped_column(String(60), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)
    ships: Mapped[bool] = mapped_column(Boolean, default=False)
    active_from: Mapped[date | None] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)
    opening_hours: Mapped[str] = mapped_column(String(80), default="")

    def is_active_on(self, day: date) -> bool:
        return (self.active_from is None or self.active_from <= day) and (
            self.active_until is None or day <= self.active_until
        )
