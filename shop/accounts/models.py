from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Location
from shop.core.db import db, utcnow

ROLES = ("customer", "operator", "aid_officer", "admin", "producer")
STAFF_ROLES = ("operator", "aid_officer", "admin")

user_location = Table(
    "user_location",
    db.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("location.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="customer")
    # Work units (canteens, unions, enterprises) buy for themselves: their orders are direct purchase.
    buyer_kind: Mapped[str] = mapped_column(String(20), default="consumer")  # consumer | work_unit
    invoice_title: Mapped[str] = mapped_column(String(200), default="")
    tax_id: Mapped[str] = mapped_column(String(30), default="")
    # Bumped on password change or logout-everywhere: invalidates issued API tokens.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    # A ``producer`` account reads the portal of exactly this producer (a Gangu cooperative or company).
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producer.id"), index=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    locations: Mapped[list[Location]] = relationship(secondary=user_location, lazy="selectin")

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def can_act_at(self, location: Location) -> bool:
        """An operator acts only at the locations granted to them; admins everywhere."""
        if self.role == "admin":
            return True
        return self.role == "operator" and any(loc.id == location.id for loc in self.locations)
