"""Orders, their lines (price and producer snapshots) and their status history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Location
from shop.core.db import db, utcnow

STATUSES = (
    "pending_payment",
    "paid",
    "fulfilling",
    "ready_for_pickup",
    "shipped",
    "completed",
    "cancelled",
    "expired",
    "refunded",
    "partially_refunded",
)
# Where the order's reserved stock is: held (reserved, waiting for payment or fulfilment), released
# (given back: expired, cancelled, refunded before fulfilment), consumed (fulfilment took it).
RESERVATION_STATES = ("held", "released", "consumed", "pledged")
# What kind of sale an order is: an ordinary order (stock reserved at checkout), or a harvest pledge
# (shop.preorders: it holds units of its campaign's cap, "pledged", until the harvest fills or refunds it).
KINDS = ("order", "pledge")

ORDER_REFERENCE_PREFIX = "order:"


def order_reference(order_id: int) -> str:
    """The one key of an order in both ledgers: ``order:<id>``.

    It is the ``reference`` of the order's stock movements (reservation, release, sale) and the
    ``source`` of its aid entries (each line's ``source_key`` adds ``:line:<n>``), so the two ledgers
    and their reconciliations name an order the same way. The id, not the number people read: every
    other record links an order by its id (lines, payments, refunds, shipments, ``/orders/<id>``), so a
    checker that has only ids builds the key without a lookup and a ledger row joins back to its order
    on the primary key; the key stays short and never depends on the number's format. The number is
    one join away, and staff pages show it.
    """
    return f"{ORDER_REFERENCE_PREFIX}{order_id}"


class Order(db.Model):
    """One checkout: what was bought at which prices, where it goes, and where its stock is reserved."""

    __tablename__ = "shop_order"  # "order" is an SQL keyword
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending_payment','paid','fulfilling','ready_for_pickup','shipped','completed',"
            "'cancelled','expired','refunded','partially_refunded')",
            name="status_known",
        ),
        CheckConstraint("delivery_type IN ('ship','pickup')", name="delivery_known"),
        CheckConstraint(
            "reservation_state IN ('held','released','consumed','pledged')", name="reservation_known"
        ),
        CheckConstraint("kind IN ('order','pledge')", name="kind_known"),
        CheckConstraint("total_fen = subtotal_fen + shipping_fen", name="total_adds_up"),
        CheckConstraint("subtotal_fen > 0 AND shipping_fen >= 0", name="amounts_positive"),
        CheckConstraint("paid_fen >= 0 AND refunded_fen >= 0", name="paid_nonneg"),
        CheckConstraint("refunded_fen <= paid_fen", name="refund_within_paid"),
        Index("ix_shop_order_user_created", "user_id", "created_at"),
        Index("ix_shop_order_status_reserved_until", "status", "reserved_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending_payment")
    kind: Mapped[str] = mapped_column(String(10), default="order", server_default="order")
    gateway: Mapped[str] = mapped_column(String(20))  # manual | stripe, fixed at checkout

    # Buyer snapshot: work units buy for themselves (direct purchase) and need an invoice.
    buyer_kind: Mapped[str] = mapped_column(String(20), default="consumer")
    invoice_title: Mapped[str] = mapped_column(String(200), default="")
    tax_id: Mapped[str] = mapped_column(String(30), default="")

    delivery_type: Mapped[str] = mapped_column(String(10))
    pickup_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    recipient: Mapped[str] = mapped_column(String(60), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(20), default="")
    district: Mapped[str] = mapped_column(String(20), default="")
    street_address: Mapped[str] = mapped_column(String(200), default="")
    delivery_note: Mapped[str] = mapped_column(String(200), default="")

    # The one location whose stock is reserved for (and will fulfil) the whole order.
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    reservation_state: Mapped[str] = mapped_column(String(10), default="held")
    reserved_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    subtotal_fen: Mapped[int] = mapped_column(Integer)
    shipping_fen: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    paid_fen: Mapped[int] = mapped_column(Integer, default=0)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    # Whether the paid lines were counted in the aid ledger (so a refund knows to reverse them).
    aid_counted: Mapped[bool] = mapped_column(Boolean, default=False)

    # Something staff must look at (amount mismatch, refund failed, refund made outside the shop).
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    attention_note: Mapped[str] = mapped_column(Text, default="")

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin"
    )
    location: Mapped[Location] = relationship(foreign_keys=[location_id], lazy="joined")
    pickup_location: Mapped[Location | None] = relationship(foreign_keys=[pickup_location_id], lazy="joined")

    @property
    def refundable_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def reference_key(self) -> str:
        """This order's key in the stock and aid ledgers (``order_reference``)."""
        return order_reference(self.id)


class OrderLine(db.Model):
    """One SKU of an order with the price and producer as they were at checkout."""

    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_fen > 0", name="price_positive"),
        CheckConstraint("line_total_fen = unit_price_fen * quantity", name="total_adds_up"),
        CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_qty"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= line_total_fen", name="refunded_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    sku: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160))
    unit_zh: Mapped[str] = mapped_column(String(30))
    unit_en: Mapped[str] = mapped_column(String(40))
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"))
    producer_name_zh: Mapped[str] = mapped_column(String(120))
    producer_name_en: Mapped[str] = mapped_column(String(160))
    certificate_number: Mapped[str | None] = mapped_column(String(80))
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_fen: Mapped[int] = mapped_column(Integer)
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderStatusChange(db.Model):
    """The audit trail of an order: every status change, who made it and why."""

    __tablename__ = "order_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
