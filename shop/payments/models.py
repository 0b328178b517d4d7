"""Payments taken for orders, the webhook inbox and refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow

PAYMENT_STATES = ("pending", "succeeded", "failed", "canceled", "mismatch")
REFUND_STATES = ("pending", "succeeded", "failed")


class Payment(db.Model):
    """One attempt to collect an order's money through a gateway (a Stripe PaymentIntent, a manual
    confirmation by staff). At most one payment of an order ever counts as the order's payment."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("gateway", "provider_ref"),
        CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
        CheckConstraint(
            "status IN ('pending','succeeded','failed','canceled','mismatch')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    # Stripe PaymentIntent id, or the manual confirmation's reference; unique per gateway.
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    client_secret: Mapped[str] = mapped_column(String(200), default="")
    method: Mapped[str] = mapped_column(String(30), default="")  # card, alipay, cash, transfer...
    amount_fen: Mapped[int] = mapped_column(Integer)  # what the gateway reports as received (or asked)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    failure: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(String(200), default="")  # e.g. the bank transfer reference
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentEvent(db.Model):
    """The webhook inbox: every verified gateway event, stored once by its id, with what it did."""

    __tablename__ = "payment_event"
    __table_args__ = (UniqueConstraint("gateway", "event_id"), Index("ix_payment_event_ref", "object_ref"))

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(80))
    object_ref: Mapped[str] = mapped_column(String(120), default="")  # e.g. the PaymentIntent id
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(200), default="")


class Refund(db.Model):
    """Money given back for an order, in full or in part, sent through the order's gateway."""

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending','succeeded','failed')", name="status_known"),
        UniqueConstraint("gateway", "provider_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    amount_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    reason: Mapped[str] = mapped_column(String(200))
    # [{"sku", "quantity", "amount_fen"}]: what the refund covers (amount-only refunds spread over lines).
    lines: Mapped[list] = mapped_column(JSON, default=list)
    restocked_at_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    failure: Mapped[str] = mapped_column(Text, default="")
    automatic: Mapped[bool] = mapped_column(default=False)  # made by the shop, not by staff
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
