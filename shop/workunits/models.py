"""Work units (直接采购): unit accounts and their buyers, verification history, yearly quotas, the unit's
account (orders and card batches on credit, bank transfers received), invoices, bulk uploads and pickup
cards.

A unit is identified in the API by the user id of the account that registered it (its manager): that
account's ``user_account.id`` is ``WorkUnit.account_id``. Other logins of the unit are its buyers
(``WorkUnitMember``). These tables sit low in the layering (below aid), so the order lifecycle can read a
unit's standing when an order is paid and the aid reports can read card balances; the use cases that
change them sit above orders and payments.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
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

from shop.core.db import db, utcnow

UNIT_TYPES = ("budget_unit", "state_owned", "trade_union", "private_company", "other")
UNIT_TYPE_NAMES = {
    "budget_unit": ("预算单位", "Budget unit"),
    "state_owned": ("国有企业", "State-owned enterprise"),
    "trade_union": ("工会", "Trade union"),
    "private_company": ("民营企业", "Private company"),
    "other": ("其他", "Other"),
}
VERIFICATION_STATES = ("pending", "verified", "rejected")
MEMBER_ROLES = ("manager", "buyer")
ACCOUNT_KINDS = ("charge", "payment", "credit")
INVOICE_KINDS = ("normal", "special")
INVOICE_STATES = ("requested", "issued")
REDEMPTION_KINDS = ("redeem", "restore")


class WorkUnit(db.Model):
    """A canteen, union, state-owned or private company buying for itself, as registered and verified."""

    __tablename__ = "work_unit"
    __table_args__ = (
        UniqueConstraint("account_id"),
        CheckConstraint(
            "unit_type IN ('budget_unit','state_owned','trade_union','private_company','other')",
            name="type_known",
        ),
        CheckConstraint("verification IN ('pending','verified','rejected')", name="verification_known"),
        CheckConstraint("payment_terms_days >= 0 AND payment_terms_days <= 365", name="terms_range"),
        Index("ix_work_unit_credit_code", "credit_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The registering account: the unit's manager and its id in the API (``/work-units/{user_id}``).
    account_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    unit_type: Mapped[str] = mapped_column(String(20), default="other")
    legal_name: Mapped[str] = mapped_column(String(200))
    # 统一社会信用代码 (GB 32100-2015), also the tax id on invoices.
    credit_code: Mapped[str] = mapped_column(String(30))
    contact_name: Mapped[str] = mapped_column(String(60), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    verification: Mapped[str] = mapped_column(String(10), default="pending")
    verification_note: Mapped[str] = mapped_column(Text, default="")
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Days a charge on account may stay unpaid (bank transfer) before it is overdue.
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def verified(self) -> bool:
        return self.verification == "verified"


class WorkUnitMember(db.Model):
    """A login that buys for a unit: its manager (who registered it and sees all its orders) or a buyer."""

    __tablename__ = "work_unit_member"
    __table_args__ = (CheckConstraint("role IN ('manager','buyer')", name="role_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"), index=True)
    role: Mapped[str] = mapped_column(String(10), default="buyer")
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    unit: Mapped[WorkUnit] = relationship(lazy="joined")


class WorkUnitVerificationEvent(db.Model):
    """One verification decision on a unit (kept for ever): who moved it from what to what, and why."""

    __tablename__ = "work_unit_verification"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkUnitQuota(db.Model):
    """The amount a unit reserves for aid products in one calendar year (预留份额), set by officers."""

    __tablename__ = "work_unit_quota"
    __table_args__ = (
        UniqueConstraint("unit_id", "year"),
        CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
        CheckConstraint("year >= 2000 AND year <= 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"))
    year: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccountEntry(db.Model):
    """One line of a unit's account: a charge (an order or a card batch on credit, due after the unit's
    terms), a payment received by bank transfer, or a credit (a refund of something charged).

    ``amount_fen`` is signed: charges positive, payments and credits negative; the balance is the sum.
    ``source_key`` is unique, so a retried charge or refund is booked once.
    """

    __tablename__ = "work_unit_account_entry"
    __table_args__ = (
        UniqueConstraint("source_key"),
        CheckConstraint("kind IN ('charge','payment','credit')", name="kind_known"),
        CheckConstraint(
            "(kind = 'charge' AND amount_fen > 0) OR (kind <> 'charge' AND amount_fen < 0)", name="sign"
        ),
        Index("ix_work_unit_account_entry_unit_day", "unit_id", "booked_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    source_key: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id"), index=True)
    card_batch_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_card_batch.id"))
    reference: Mapped[str] = mapped_column(String(120), default="")  # bank transfer reference, refund...
    booked_on: Mapped[date] = mapped_column(Date)  # the shop's local day
    due_on: Mapped[date | None] = mapped_column(Date)  # charges only
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Invoice(db.Model):
    """A VAT invoice (发票) asked for one paid order: at most one per order (unique ``order_id``).

    The shop does not call a tax system: finance issues the invoice and records its number and PDF here.
    A refund after issue needs a red-letter (红字) invoice; ``red_letter_number`` records it.
    """

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("order_id"),
        CheckConstraint("kind IN ('normal','special')", name="kind_known"),
        CheckConstraint("status IN ('requested','issued')", name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_invoice_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str] = mapped_column(String(30))
    email: Mapped[str] = mapped_column(String(254), default="")
    # Special (专用) invoices also carry the buyer's bank, account, registered address and phone.
    bank_name: Mapped[str] = mapped_column(String(120), default="")
    bank_account: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="requested")
    number: Mapped[str] = mapped_column(String(40), default="")
    pdf_name: Mapped[str] = mapped_column(String(120), default="")  # file under DATA_DIR/invoices
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    red_letter_number: Mapped[str] = mapped_column(String(40), default="")
    red_letter_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BulkOrder(db.Model):
    """One uploaded file of a unit's bulk or welfare order: the orders it placed, all or none."""

    __tablename__ = "bulk_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filename: Mapped[str] = mapped_column(String(200), default="")
    rows: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BulkOrderItem(db.Model):
    """An order placed by a bulk upload, with the file rows it came from."""

    __tablename__ = "bulk_order_item"

    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"), primary_key=True)
    bulk_id: Mapped[int] = mapped_column(ForeignKey("bulk_order.id"), index=True)
    rows: Mapped[str] = mapped_column(String(200))  # e.g. "2,3"


class PickupCardBatch(db.Model):
    """Cards issued together to a unit (a union's festival welfare): count, value each, expiry."""

    __tablename__ = "pickup_card_batch"
    __table_args__ = (
        CheckConstraint("count > 0", name="count_positive"),
        CheckConstraint("value_fen > 0", name="value_positive"),
        UniqueConstraint("issued_by_id", "request_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)
    value_fen: Mapped[int] = mapped_column(Integer)
    expires_on: Mapped[date] = mapped_column(Date)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The issuer's Idempotency-Key, when given: a retry finds the batch instead of issuing another.
    request_key: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def total_fen(self) -> int:
        return self.count * self.value_fen


class PickupCard(db.Model):
    """One card: its code is shown once when issued and stored only as a SHA-256 hash.

    The balance changes only by conditional UPDATEs (``shop.workunits.cards``) and never leaves
    ``0..value_fen``, also enforced by CHECK constraints.
    """

    __tablename__ = "pickup_card"
    __table_args__ = (
        UniqueConstraint("code_hash"),
        CheckConstraint("balance_fen >= 0", name="balance_nonneg"),
        CheckConstraint("balance_fen <= value_fen", name="balance_within_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("pickup_card_batch.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_unit.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(8))  # the last four characters, to tell cards apart
    value_fen: Mapped[int] = mapped_column(Integer)
    balance_fen: Mapped[int] = mapped_column(Integer)
    expires_on: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CardRedemption(db.Model):
    """A card paying for goods (an online order or a counter sale), or a refund putting value back.

    ``source_key`` is unique (``order:<id>``, ``counter-sale:<id>``, ``refund:<id>``): a retry never takes
    or gives back twice. ``amount_fen`` is positive for a redemption, negative for a restore.
    """

    __tablename__ = "pickup_card_redemption"
    __table_args__ = (
        UniqueConstraint("source_key"),
        CheckConstraint("kind IN ('redeem','restore')", name="kind_known"),
        CheckConstraint(
            "(kind = 'redeem' AND amount_fen > 0) OR (kind = 'restore' AND amount_fen < 0)", name="sign"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("pickup_card.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(Integer)
    source_key: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id"), index=True)
    counter_sale_id: Mapped[int | None] = mapped_column(ForeignKey("counter_sale.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
