from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Table, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Location, Producer
from shop.core.db import db, utcnow

ROLES = ("customer", "operator", "aid_officer", "admin", "producer")
STAFF_ROLES = ("operator", "aid_officer", "admin")
# The roles an admin invites (a customer registers by themself).
INVITABLE_ROLES = ("operator", "aid_officer", "admin", "producer")
# The password hash of an invited account that has not chosen a password yet: it is no argon2 hash, so no
# password ever matches it.
NO_PASSWORD = "!unset"

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
    # Bumped on password change or reset, role change, deactivation and logout-everywhere: every bearer
    # token and web session carries the version it was issued under and is refused once it differs.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    # A deactivated account cannot sign in, reset its password or use any session or token.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # A ``producer`` account reads the portal of exactly this producer (a Gangu cooperative or company).
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producer.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    locations: Mapped[list[Location]] = relationship(secondary=user_location, lazy="selectin")
    producer: Mapped[Producer | None] = relationship()

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_active(self) -> bool:  # Flask-Login refuses to sign in an inactive user
        return bool(self.active)

    @property
    def has_password(self) -> bool:
        """False for an invited account whose person has not set a password yet."""
        return self.password_hash != NO_PASSWORD

    def get_id(self) -> str:
        """What a web session stores: the id and the token version it was signed in under."""
        return f"{self.id}:{self.token_version}"

    def can_act_at(self, location: Location) -> bool:
        """An operator acts only at the locations granted to them; admins everywhere."""
        if self.role == "admin":
            return True
        return self.role == "operator" and any(loc.id == location.id for loc in self.locations)


class RevokedToken(db.Model):
    """A bearer token or web session ended before its time (logout), refused until it would have expired.

    ``jti`` is the token's or session's random id; rows are deleted once ``expires_at`` has passed (the
    token's signature is refused from then on anyway).
    """

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginThrottle(db.Model):
    """A counter of sign-in attempts in a fixed window, changed only by single atomic statements.

    ``key`` names what is counted: one account from one client address, one account from everywhere, or
    one client address over all accounts (``shop.accounts.throttle``). Rows past their window are reset
    by the next attempt and deleted by the periodic purge.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PasswordToken(db.Model):
    """An emailed link to set a password: a reset, or the invitation of a new staff member.

    Only the SHA-256 of the random token is stored; a link works once (a conditional UPDATE sets
    ``used_at``) and not after ``expires_at``.
    """

    __tablename__ = "password_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))  # reset | invite
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
