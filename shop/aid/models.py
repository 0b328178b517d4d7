from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.core.db import db, utcnow

CHANNELS = (
    "online",
    "hall",
    "fair",
    "subscription",
    "charity_sale",
    "work_unit",
    "partner_platform",
    "charity",
)
# Hall sales always go through the counter (POS), so they can never be entered a second time by hand.
OFFSHOP_CHANNELS = ("online", "fair", "subscription", "charity_sale", "work_unit")
OFFSHOP_STATUSES = ("pending", "approved", "rejected", "voided")
# What the rollups sum the ledger along (the unique key of a rollup row), and the sums they keep. Declared
# here only: the upsert (services), the reconciliation and the officer totals (reports) derive theirs.
ROLLUP_DIMS = (
    "programme_id",
    "day",
    "channel",
    "category_id",
    "product_id",
    "producer_id",
    "township",
    "location_id",
    "qualifying",
    "direct_purchase",
)
ROLLUP_SUMS = ("amount_fen", "quantity", "entries")


class AidProgramme(db.Model):
    """A reporting period with a consumption-aid target, e.g. Dongli-Gangu 2026, 50 million yuan."""

    __tablename__ = "aid_programme"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("target_fen > 0", name="target_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(160))
    name_en: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    target_fen: Mapped[int] = mapped_column(BigInteger)
    # What officers should know about the figures (where the target came from...), shown with them.
    note: Mapped[str] = mapped_column(Text, default="", server_default="")

    targets: Mapped[list[AidTarget]] = relationship(
        back_populates="programme",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="AidTarget.id",
    )


class AidTarget(db.Model):
    """An optional sub-target of a programme: for one sales channel, one hall or one Gangu township
    (exactly one of the three)."""

    __tablename__ = "aid_target"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN channel IS NULL THEN 0 ELSE 1 END) + (CASE WHEN location_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN township IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_dimension",
        ),
        CheckConstraint("target_fen > 0", name="target_positive"),
        UniqueConstraint("programme_id", "channel", name="uq_aid_target_channel"),
        UniqueConstraint("programme_id", "location_id", name="uq_aid_target_location"),
        UniqueConstraint("programme_id", "township", name="uq_aid_target_township"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("aid_programme.id", ondelete="CASCADE"))
    channel: Mapped[str | None] = mapped_column(String(20))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    township: Mapped[str | None] = mapped_column(String(60))  # the Chinese name, as aid entries carry it
    target_fen: Mapped[int] = mapped_column(BigInteger)

    programme: Mapped[AidProgramme] = relationship(back_populates="targets")


class AidEntry(db.Model):
    """One line of the append-only aid ledger: a sale line counted (or a refund reversing it).

    ``source_key`` is unique, so the same sale line can never be counted twice, however often a webhook,
    a counter-sale replay or a task retry delivers it. Dimensions are snapshotted at the time of sale.
    """

    __tablename__ = "aid_entry"
    __table_args__ = (
        UniqueConstraint("source_key"),
        CheckConstraint(
            "channel IN ('online','hall','fair','subscription','charity_sale','work_unit','partner_platform',"
            "'charity')",
            name="channel_known",
        ),
        Index("ix_aid_entry_programme_day", "programme_id", "day"),
        # The by-platform breakdown sums partner-platform entries of a programme per platform.
        Index("ix_aid_entry_platform", "programme_id", "platform_id"),
        Index("ix_aid_entry_source", "source"),
        Index("ix_aid_entry_buyer", "buyer_id", "programme_id"),
        # A refund sums the earlier reversals of the lines it reverses.
        Index("ix_aid_entry_reverses", "reverses_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("aid_programme.id"))
    source: Mapped[str] = mapped_column(String(80))  # e.g. "order:12", "counter-sale:7", "refund:3"
    source_key: Mapped[str] = mapped_column(String(120))  # source + line, unique
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("aid_entry.id"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)  # the shop's local date (clock.local_day) of the sale or refund
    channel: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"))
    township: Mapped[str] = mapped_column(String(60))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    qualifying: Mapped[bool] = mapped_column(Boolean)
    certificate_number: Mapped[str | None] = mapped_column(String(80))
    direct_purchase: Mapped[bool] = mapped_column(Boolean, default=False)
    # The work unit (or consumer) who bought, when known: work-unit direct-purchase totals read it.
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The partner platform that sold it (channel ``partner_platform`` only).
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("aid_platform.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AidRollup(db.Model):
    """Running sums of the ledger per day and reporting dimensions, updated in the entry's transaction.

    Totals read these rows, so they cost the same at a thousand or ten million entries.
    ``location_id`` is 0 for sales without a location (so the unique key has no NULLs).
    """

    __tablename__ = "aid_rollup"
    __table_args__ = (UniqueConstraint(*ROLLUP_DIMS, name="uq_aid_rollup_dims"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("aid_programme.id"))
    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(Integer)
    producer_id: Mapped[int] = mapped_column(Integer)
    township: Mapped[str] = mapped_column(String(60))
    location_id: Mapped[int] = mapped_column(Integer)
    qualifying: Mapped[bool] = mapped_column(Boolean)
    direct_purchase: Mapped[bool] = mapped_column(Boolean)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    entries: Mapped[int] = mapped_column(Integer, default=0)


# The per-dimension totals (``AidSummary``): each entry is added once per grain and dimension, under the
# key it carries for that dimension ("all" has the single key ""). The officer totals read these.
SUMMARY_GRAINS = ("month", "day")
SUMMARY_DIMS = ("all", "channel", "category", "product", "producer", "township", "location")
SUMMARY_KEY = ("programme_id", "grain", "period", "dimension", "key", "qualifying", "direct_purchase")


class AidSummary(db.Model):
    """Running sums of the ledger per programme, month or day, and one reporting dimension at a time.

    A row per programme x grain (``month``: ``period`` is the first day of the month; ``day``) x dimension
    (channel, category, product, producer, township, location, or ``all``) x key (the channel's name, the
    township's name, an id as text, ``0`` for sales without a location, ``""`` for ``all``) x qualifying
    x direct purchase. A year of totals reads a few thousand of them, however many sales there were.

    Sales do not write these rows (every sale of a month would wait on the same few rows): the ledger
    insert leaves the entry's id in ``aid_unfolded`` (a database trigger), and the fold task
    (``shop.aid.summaries.fold``) adds pending entries here and deletes their ids in one transaction.
    Totals read both, so they are exact: in any snapshot an entry is either folded or pending.
    """

    __tablename__ = "aid_summary"
    __table_args__ = (
        UniqueConstraint(*SUMMARY_KEY, name="uq_aid_summary_key"),
        CheckConstraint("grain IN ('month','day')", name="grain_known"),
        CheckConstraint(
            "dimension IN ('all','channel','category','product','producer','township','location')",
            name="dimension_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("aid_programme.id"))
    grain: Mapped[str] = mapped_column(String(5))
    period: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(60))
    qualifying: Mapped[bool] = mapped_column(Boolean)
    direct_purchase: Mapped[bool] = mapped_column(Boolean)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    entries: Mapped[int] = mapped_column(BigInteger, default=0)


class AidUnfolded(db.Model):
    """A ledger entry not yet added to the summaries: its id, written by the trigger on ``aid_entry``
    in the sale's own transaction, deleted by the fold that adds it (no foreign key: the trigger writes
    only ids it has just inserted, and the entries are never deleted)."""

    __tablename__ = "aid_unfolded"

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class OffshopSale(db.Model):
    """A sale made outside the shop (fair stand, charity sale, offline-invoiced unit purchase,
    WeChat-group subscription), recorded by one aid officer with its evidence and counted only once a
    second, different officer approves it.

    ``evidence_key`` is the evidence number normalised (full-width to half-width, no spaces, upper
    case); the partial unique index keeps one live (pending or approved) record per producer and
    evidence, so the same invoice cannot count twice, while a rejected or voided record can be
    entered again correctly.
    """

    __tablename__ = "aid_offshop_sale"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','approved','rejected','voided')",
            name="status_known",
        ),
        CheckConstraint(
            "channel IN ('online','fair','subscription','charity_sale','work_unit')",
            name="channel_known",
        ),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        # Four eyes, enforced by the database too: the approver is never the recorder.
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> recorded_by_id", name="four_eyes"),
        Index(
            "uq_aid_offshop_live_evidence",
            "producer_id",
            "evidence_key",
            unique=True,
            postgresql_where=text("status IN ('pending','approved')"),
            sqlite_where=text("status IN ('pending','approved')"),
        ),
        Index("ix_aid_offshop_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    channel: Mapped[str] = mapped_column(String(20))
    evidence_kind: Mapped[str] = mapped_column(String(20))  # invoice, receipt, contract
    evidence_number: Mapped[str] = mapped_column(String(80))
    evidence_key: Mapped[str] = mapped_column(String(80))
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    sold_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    buyer_name: Mapped[str] = mapped_column(String(200), default="")
    work_unit_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str] = mapped_column(Text, default="")

    lines: Mapped[list[OffshopLine]] = relationship(
        back_populates="sale", cascade="all, delete-orphan", lazy="selectin", order_by="OffshopLine.id"
    )

    @property
    def source(self) -> str:
        return f"offline-sale:{self.id}"


class OffshopLine(db.Model):
    """One product on an outside sale's evidence: quantity and the amount the buyer paid for it."""

    __tablename__ = "aid_offshop_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        UniqueConstraint("sale_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("aid_offshop_sale.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    sale: Mapped[OffshopSale] = relationship(back_populates="lines")


class AidReconciliationRun(db.Model):
    """One run of the aid reconciliation: when, what it checked, what it found, whether it repaired."""

    __tablename__ = "aid_reconciliation_run"
    __table_args__ = (
        CheckConstraint("status IN ('running','ok','drift','repaired','failed')", name="status_known"),
        Index("ix_aid_reconciliation_run_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trigger: Mapped[str] = mapped_column(String(40))  # cli, task, or who asked
    repair: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="running")
    entries_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    rollups_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    checkers: Mapped[list] = mapped_column(JSON, default=list)
    difference_count: Mapped[int] = mapped_column(Integer, default=0)
    # The first differences found (bounded), each {check, key, recorded, expected, detail}.
    differences: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")


IMPORT_STATUSES = ("queued", "running", "done", "failed")


class PartnerPlatform(db.Model):
    """An e-commerce platform that sells Gangu products for the programme outside the shop.

    Its sales arrive as imported files (CSV/XLSX exports) or pushed with its API key (only the key's
    SHA-256 is stored). ``producers``, when not empty, are the only producers it may report sales for.
    """

    __tablename__ = "aid_platform"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(160))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    operator: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    producer_links: Mapped[list[PlatformProducer]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PlatformProducer.producer_id"
    )


class PlatformProducer(db.Model):
    """A producer a partner platform sells for."""

    __tablename__ = "aid_platform_producer"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("aid_platform.id", ondelete="CASCADE"), primary_key=True
    )
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id"), primary_key=True)


class AidImport(db.Model):
    """One file (or one API push) of a partner platform's sales, and what became of its rows.

    ``rows_done`` is the number of data rows already processed and committed (with their counters):
    a task that dies mid-file resumes after it, so no row is processed twice by its own import.
    """

    __tablename__ = "aid_import"
    __table_args__ = (
        CheckConstraint("status IN ('queued','running','done','failed')", name="status_known"),
        CheckConstraint("kind IN ('csv','xlsx','api')", name="kind_known"),
        Index("ix_aid_import_platform", "platform_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("aid_platform.id"))
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    filename: Mapped[str] = mapped_column(String(200), default="")
    stored_name: Mapped[str] = mapped_column(String(80), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    void_reason: Mapped[str] = mapped_column(Text, default="")

    platform: Mapped[PartnerPlatform] = relationship()

    @property
    def source(self) -> str:
        return f"partner-import:{self.id}"


class AidImportRejection(db.Model):
    """A row of an import that was not counted, with why and what it held (to fix and upload again)."""

    __tablename__ = "aid_import_rejection"
    __table_args__ = (Index("ix_aid_import_rejection_import", "import_id", "row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("aid_import.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)  # the file's row number, the header being row 1
    reason: Mapped[str] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class PartnerSale(db.Model):
    """One counted sale line of a partner platform: the key that makes it count once.

    The partial unique index on ``(platform, platform order id, line)`` among live lines decides, in the
    database, which of any number of imports (even concurrent ones) counts a line: the others' ``INSERT
    .. ON CONFLICT DO NOTHING`` skip it and report it as a duplicate. Voiding an import reverses its
    entries and marks its lines voided, so a corrected file can count them again.
    """

    __tablename__ = "aid_partner_sale"
    __table_args__ = (
        Index(
            "uq_aid_partner_sale_live_key",
            "platform_id",
            "platform_order_id",
            "line",
            unique=True,
            postgresql_where=text("voided = false"),
            sqlite_where=text("voided = 0"),
        ),
        Index("ix_aid_partner_sale_import", "import_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("aid_platform.id"))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[int] = mapped_column(ForeignKey("aid_import.id"))
    row: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id"))
    sold_on: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)


CHARITY_STATUSES = OFFSHOP_STATUSES
# The hidden catalogue entry every charity item is counted under (the ledger needs a category, product and
# variant on each entry), and the producer a sale benefits when it names a cause rather than a producer.
# Codes starting with "_" are internal: the storefront never lists them (Product/Producer.active=False).
CHARITY_CATEGORY_CODE = "_charity"
CHARITY_PRODUCT_SLUG = "_charity-item"
CHARITY_SKU = "_CHARITY-ITEM"
CHARITY_CAUSE_PRODUCER_CODE = "_charity-cause"


class CharitySale(db.Model):
    """A charity sale (义卖) of a one-off item (a painting, calligraphy) for the programme.

    Recorded by one aid officer with its evidence and counted only once a second, different officer
    approves it (like ``OffshopSale``). ``amount_fen`` is what the buyer paid; ``donated_fen`` (at most the
    amount) is the part that is a donation rather than a purchase of goods: only ``amount - donated``
    enters the aid ledger (channel ``charity``, source ``charity-sale:<id>``), the donation is reported
    apart. ``evidence_key`` (normalised) is unique among live (pending or approved) charity sales.
    """

    __tablename__ = "aid_charity_sale"
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected','voided')", name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("donated_fen >= 0 AND donated_fen <= amount_fen", name="donation_within_amount"),
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> recorded_by_id", name="four_eyes"),
        Index(
            "uq_aid_charity_live_evidence",
            "evidence_key",
            unique=True,
            postgresql_where=text("status IN ('pending','approved')"),
            sqlite_where=text("status IN ('pending','approved')"),
        ),
        Index("ix_aid_charity_status", "status", "id"),
        Index("ix_aid_charity_sold_on", "sold_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    item: Mapped[str] = mapped_column(String(200))
    buyer: Mapped[str] = mapped_column(String(200), default="")
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    donated_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The producer it benefits, if any; otherwise ``cause`` says what it benefits.
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producer.id"))
    cause: Mapped[str] = mapped_column(String(200), default="")
    sold_on: Mapped[date] = mapped_column(Date)
    evidence_kind: Mapped[str] = mapped_column(String(20))
    evidence_number: Mapped[str] = mapped_column(String(80))
    evidence_key: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str] = mapped_column(Text, default="")

    @property
    def goods_fen(self) -> int:
        """The part of the price that bought the item: what the aid ledger counts."""
        return self.amount_fen - self.donated_fen

    @property
    def source(self) -> str:
        return f"charity-sale:{self.id}"
