"""A buyer's request for money back on an order, decided by staff of the order's location."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow

REASONS = ("cancel", "damaged", "wrong_item", "other")
STATES = ("open", "approved", "rejected")


class RefundRequest(db.Model):
    """Started by the buyer (``reason``: cancel a paid order, a damaged or wrong item...), approved by
    staff (the refund goes out through the gateway that took the money) or rejected with a reason.

    At most one request per order is open at a time (a partial unique index), so a double click or a
    second tab cannot queue the same refund twice.
    """

    __tablename__ = "refund_request"
    __table_args__ = (
        CheckConstraint("reason IN ('cancel','damaged','wrong_item','other')", name="reason_known"),
        CheckConstraint("status IN ('open','approved','rejected')", name="status_known"),
        Index(
            "uq_refund_request_open",
            "order_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_refund_request_location_status", "location_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"), index=True)
    # The order's location when asked: whose staff decide (and are told).
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    # [{"sku", "quantity"}]: what the buyer wants refunded; empty means everything still refundable.
    lines: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Why staff rejected it (shown to the buyer), or their note on approval.
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refund.id"))
