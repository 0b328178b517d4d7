from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
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


# Kinds of movement on the ledger. Sign conventions: ``quantity`` is the change of on hand (and of the
# lot), ``reserved_delta`` the change of reserved, both at ``location_id``.
MOVEMENT_KINDS = (
    "receipt",  # goods received from a producer or supplier
    "transfer_out",  # left a location for a transfer or consignment (-)
    "in_transit",  # held at the in-transit location (+ on hand, + reserved: never sellable)
    "transit_delivered",  # left in-transit stock because the destination received it (-, - reserved)
    "transit_shortfall",  # sent but never arrived (-, - reserved)
    "transit_damage",  # arrived damaged, never entered the destination's stock (-, - reserved)
    "transit_returned",  # transfer cancelled: left in-transit stock to go back to the source (-)
    "transfer_in",  # entered the destination of a transfer (+), or back at the source on cancel
    "counter_sale",  # sold at a hall's counter (-)
    "online_sale",  # an online order fulfilled (-, - reserved)
    "pick_returned",  # picked for an online order refunded before hand-over: back in its lot (+)
    "reservation",  # reserved for an online order (+ reserved)
    "release",  # reservation given back (- reserved)
    "adjustment",  # found stock, losses, samples, other (±, with a reason)
    "spoilage",  # perished or expired goods written off (-)
    "damage",  # damaged goods written off (-)
    "return",  # a customer brought goods back (+)
    "count_correction",  # a stock count found a different quantity (±)
)


class Transfer(db.Model):
    """Goods sent from one location to another: a consignment (from the Gangu warehouse) or a transfer.

    Sending moves the units out of the source's lots into the in-transit location (one lot per line,
    coded ``T<id>:<lot>``), where they are held reserved so nothing can sell them. Receiving moves
    them to the destination; what never arrives or arrives damaged leaves transit as a shortfall or
    damage movement. The ledger therefore explains every unit at every step.
    """

    __tablename__ = "stock_transfer"
    __table_args__ = (
        CheckConstraint("from_location_id <> to_location_id", name="distinct_ends"),
        CheckConstraint(
            "status IN ('in_transit', 'partially_received', 'received', 'cancelled')", name="status_known"
        ),
        CheckConstraint("kind IN ('consignment', 'transfer')", name="kind_known"),
        Index("ix_stock_transfer_to_status", "to_location_id", "status"),
        Index("ix_stock_transfer_from_status", "from_location_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="in_transit")
    from_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(String(80), default="")  # waybill, vehicle, etc.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    from_location: Mapped[Location] = relationship(foreign_keys=[from_location_id], lazy="joined")
    to_location: Mapped[Location] = relationship(foreign_keys=[to_location_id], lazy="joined")
    lines: Mapped[list[TransferLine]] = relationship(
        back_populates="transfer", order_by="TransferLine.id", lazy="selectin"
    )
    discrepancies: Mapped[list[TransferDiscrepancy]] = relationship(
        order_by="TransferDiscrepancy.id", lazy="selectin", viewonly=True
    )

    @property
    def number(self) -> str:
        return f"{'C' if self.kind == 'consignment' else 'T'}{self.id:06d}"

    @property
    def reference_key(self) -> str:
        """The ``reference`` written on every movement of this transfer."""
        return f"transfer:{self.id}"

    @property
    def open(self) -> bool:
        return self.status in ("in_transit", "partially_received")

    @property
    def cancellable(self) -> bool:
        """Still in transit with nothing of it received, damaged or short: it can be called back."""
        return self.status == "in_transit" and not any(
            line.quantity_received or line.quantity_damaged or line.quantity_short for line in self.lines
        )


class TransferLine(db.Model):
    """One lot sent on a transfer, and what became of it: received, short, damaged, or still in transit."""

    __tablename__ = "stock_transfer_line"
    __table_args__ = (
        CheckConstraint("quantity_sent > 0", name="sent_positive"),
        CheckConstraint("quantity_received >= 0", name="received_nonneg"),
        CheckConstraint("quantity_short >= 0", name="short_nonneg"),
        CheckConstraint("quantity_damaged >= 0", name="damaged_nonneg"),
        CheckConstraint("quantity_returned >= 0", name="returned_nonneg"),
        CheckConstraint(
            "quantity_received + quantity_short + quantity_damaged + quantity_returned <= quantity_sent",
            name="settled_within_sent",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfer.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    lot_code: Mapped[str] = mapped_column(String(60))
    harvested_on: Mapped[date | None] = mapped_column(Date)
    best_before: Mapped[date | None] = mapped_column(Date)
    quantity_sent: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer, default=0)
    quantity_short: Mapped[int] = mapped_column(Integer, default=0)
    quantity_damaged: Mapped[int] = mapped_column(Integer, default=0)
    quantity_returned: Mapped[int] = mapped_column(Integer, default=0)

    transfer: Mapped[Transfer] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship(lazy="joined")

    @property
    def outstanding(self) -> int:
        """Units still in transit on this line."""
        return (
            self.quantity_sent
            - self.quantity_received
            - self.quantity_short
            - self.quantity_damaged
            - self.quantity_returned
        )

    @property
    def transit_lot_code(self) -> str:
        return f"T{self.transfer_id}:{self.lot_code}"


class TransferDiscrepancy(db.Model):
    """A difference between what was sent and what arrived: short, damaged, or more than was sent.

    Shortfalls and damage are accepted with the receipt (and written as movements); a report of more
    units than were sent is refused and kept here as ``over`` so someone can follow it up.
    """

    __tablename__ = "stock_transfer_discrepancy"
    __table_args__ = (
        CheckConstraint("kind IN ('short', 'damaged', 'over')", name="kind_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfer.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    lot_code: Mapped[str] = mapped_column(String(60), default="")
    kind: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    variant: Mapped[Variant] = relationship(lazy="joined")


# "card" is a bank card at the terminal; "pickup_card" a work unit's 提货卡 (its code goes with the sale).
PAYMENT_METHODS = ("wechat", "alipay", "cash", "card", "pickup_card")


class CounterSale(db.Model):
    """A sale at a hall's counter, made on the tablet (``client_sale_id``) and posted, maybe much later.

    ``(location_id, client_sale_id)`` is unique: posting the same sale again finds this row instead of
    selling twice, and a concurrent duplicate fails on the index and then finds it.
    """

    __tablename__ = "counter_sale"
    __table_args__ = (
        UniqueConstraint("location_id", "client_sale_id"),
        CheckConstraint(
            "paid_with IN ('wechat', 'alipay', 'cash', 'card', 'pickup_card')", name="paid_with_known"
        ),
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
        Index("ix_counter_sale_location_made", "location_id", "made_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    client_sale_id: Mapped[str] = mapped_column(String(64))
    paid_with: Mapped[str] = mapped_column(String(20))
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # on the tablet
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    location: Mapped[Location] = relationship(lazy="joined")
    lines: Mapped[list[CounterSaleLine]] = relationship(
        back_populates="sale", order_by="CounterSaleLine.id", lazy="selectin"
    )

    @property
    def reference_key(self) -> str:
        return counter_sale_reference(self.id)


COUNTER_SALE_PREFIX = "counter-sale:"


def counter_sale_reference(sale_id: int) -> str:
    """A counter sale's key in the stock and aid ledgers."""
    return f"{COUNTER_SALE_PREFIX}{sale_id}"


class CounterSaleLine(db.Model):
    """One SKU of a counter sale, with the catalogue price at the time of sale."""

    __tablename__ = "counter_sale_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_fen >= 0", name="price_nonneg"),
        CheckConstraint("amount_fen = unit_price_fen * quantity", name="amount_consistent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("counter_sale.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)

    sale: Mapped[CounterSale] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship(lazy="joined")


class StockCount(db.Model):
    """A stock count at a location: what the operator counted and the corrections it caused."""

    __tablename__ = "stock_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    location: Mapped[Location] = relationship(lazy="joined")
    lines: Mapped[list[StockCountLine]] = relationship(order_by="StockCountLine.id", lazy="selectin")

    @property
    def reference_key(self) -> str:
        return f"count:{self.id}"


class StockCountLine(db.Model):
    """One counted SKU (or one lot of it): the recorded quantity, the counted one, the correction."""

    __tablename__ = "stock_count_line"
    __table_args__ = (
        CheckConstraint("counted >= 0", name="counted_nonneg"),
        CheckConstraint("delta = counted - expected", name="delta_consistent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    count_id: Mapped[int] = mapped_column(ForeignKey("stock_count.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    expected: Mapped[int] = mapped_column(Integer)
    counted: Mapped[int] = mapped_column(Integer)
    delta: Mapped[int] = mapped_column(Integer)

    variant: Mapped[Variant] = relationship(lazy="joined")
    lot: Mapped[Lot | None] = relationship(lazy="joined")
