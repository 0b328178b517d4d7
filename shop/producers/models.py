"""Fee history, settlement statements and their lines, linked households and their income.

A settlement line's ``source_key`` is unique: a paid order line (``order-line:<id>``), a counter sale line
(``counter-line:<id>``) or the part of a refund on one order line (``refund:<id>:line:<order line id>``)
is settled once across all runs, however often or concurrently a period is run.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.core.db import db, utcnow

STATEMENT_STATES = ("draft", "approved", "paid")
LINE_KINDS = ("sale", "refund")
SETTLEMENT_CHANNELS = ("online", "hall", "preorder", "card", "work_unit")
INCOME_KINDS = ("produce", "wage", "dividend")


class ProducerFee(db.Model):
    """One agreed service fee of a producer (basis points), in force from ``effective_at`` on.

    ``effective_at`` is the later of the start of ``effective_from`` (Beijing day) and the moment it was
    set, so a change never reaches back over sales made before it was made; the fee of a sale is the
    newest row in force at the moment of the sale.
    """

    __tablename__ = "producer_fee"
    __table_args__ = (
        CheckConstraint("fee_bp >= 0 AND fee_bp <= 10000", name="fee_bp_range"),
        Index("ix_producer_fee_producer_effective", "producer_id", "effective_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"))
    fee_bp: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SettlementRun(db.Model):
    """One run of the settlement of a period: who or what started it, when it ended, what it added."""

    __tablename__ = "settlement_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    trigger: Mapped[str] = mapped_column(String(60))
    cutoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lines_added: Mapped[int] = mapped_column(Integer, default=0)


class Statement(db.Model):
    """What the shop owes one producer for one month: gross sales less refunds less the service fee."""

    __tablename__ = "settlement_statement"
    __table_args__ = (
        UniqueConstraint("period", "producer_id"),
        CheckConstraint("status IN ('draft','approved','paid')", name="status_known"),
        CheckConstraint("gross_fen >= 0 AND refunds_fen >= 0", name="parts_nonneg"),
        CheckConstraint("payable_fen = gross_fen - refunds_fen - fee_fen", name="payable_adds_up"),
        CheckConstraint("status <> 'paid' OR paid_reference IS NOT NULL", name="paid_has_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Beijing months
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    gross_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    payable_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    paid_reference: Mapped[str | None] = mapped_column(String(80))

    lines: Mapped[list[StatementLine]] = relationship(
        back_populates="statement", order_by="StatementLine.id", lazy="select"
    )


class StatementLine(db.Model):
    """One settled item: a sale line (positive) or the refund of one (negative), with its fee."""

    __tablename__ = "settlement_line"
    __table_args__ = (
        UniqueConstraint("source_key"),
        CheckConstraint("kind IN ('sale','refund')", name="kind_known"),
        CheckConstraint(
            "(kind = 'sale' AND amount_fen >= 0 AND fee_fen >= 0 AND fee_fen <= amount_fen)"
            " OR (kind = 'refund' AND amount_fen < 0 AND fee_fen <= 0 AND fee_fen >= amount_fen)",
            name="signs",
        ),
        CheckConstraint("fee_bp >= 0 AND fee_bp <= 10000", name="fee_bp_range"),
        Index("ix_settlement_line_order_line", "order_line_id"),
        Index("ix_settlement_line_refund", "refund_id", "producer_id"),
        Index("ix_settlement_line_counter_line", "counter_line_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("settlement_statement.id"), index=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"))
    source_key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id"))
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_line.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refund.id"))
    counter_line_id: Mapped[int | None] = mapped_column(ForeignKey("counter_sale_line.id"))
    reference: Mapped[str] = mapped_column(String(40), default="")  # order number or counter sale
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    sku: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(160))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_bp: Mapped[int] = mapped_column(Integer)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    statement: Mapped[Statement] = relationship(back_populates="lines")


class Household(db.Model):
    """A registered poor household linked to one producer, by a pseudonymous reference only.

    No names or ID numbers are stored: ``ref`` is the producer's own code for the household, unique
    across all producers, so one household is never counted twice as reached.
    """

    __tablename__ = "producer_household"
    __table_args__ = (
        UniqueConstraint("ref"),
        CheckConstraint("members >= 1 AND members <= 30", name="members_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"), index=True)
    ref: Mapped[str] = mapped_column(String(40))
    village: Mapped[str] = mapped_column(String(60))
    township: Mapped[str] = mapped_column(String(60))
    members: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HouseholdIncome(db.Model):
    """Money a producer paid one of its households: produce bought from it, wages or a dividend."""

    __tablename__ = "household_income"
    __table_args__ = (
        CheckConstraint("kind IN ('produce','wage','dividend')", name="kind_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_household_income_on", "on_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("producer_household.id"), index=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    on_day: Mapped[date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    household: Mapped[Household] = relationship(lazy="joined")
