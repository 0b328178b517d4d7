"""Shipments and pickup tickets: at most one of either per order (unique ``order_id``).

Which lots an order's units came from is not stored here: the stock ledger already says it (the
``online_sale`` movements of the order), and the pick list is read from there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow

# "cancelled": the order was refunded in full before the goods left (shop.fulfilment.services.void_handover).
SHIPMENT_STATES = ("awaiting_dispatch", "shipped", "delivered", "cancelled")
TICKET_STATES = ("ready", "handed_over", "cancelled")
# Couriers operators can pick; "other" needs the name in the tracking note.
COURIERS = ("sf", "jd", "ems", "zto", "yto", "sto", "yunda", "jtexpress", "deppon", "cold_chain", "other")


class Shipment(db.Model):
    """The parcel of a delivery order: created when its stock is picked, shipped with a courier and
    tracking number entered by the operator, then marked delivered."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("order_id"),
        CheckConstraint(
            "status IN ('awaiting_dispatch','shipped','delivered','cancelled')", name="status_known"
        ),
        Index("ix_shipment_location_status", "location_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    status: Mapped[str] = mapped_column(String(20), default="awaiting_dispatch")
    courier: Mapped[str] = mapped_column(String(20), default="")
    courier_note: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class PickupTicket(db.Model):
    """What a pickup buyer shows at the hall: a six-digit code, unique among the hall's open tickets."""

    __tablename__ = "pickup_ticket"
    __table_args__ = (
        UniqueConstraint("order_id"),
        CheckConstraint("status IN ('ready','handed_over','cancelled')", name="status_known"),
        # Codes are reused once handed over, so only open tickets need to be told apart.
        Index(
            "uq_pickup_ticket_open_code",
            "location_id",
            "code",
            unique=True,
            postgresql_where=text("status = 'ready'"),
            sqlite_where=text("status = 'ready'"),
        ),
        Index("ix_pickup_ticket_handed_over", "location_id", "handed_over_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(20), default="ready")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    handed_over_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handed_over_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
