"""Charity sales (义卖) of one-off items, counted with a second officer's approval, donations apart.

A painting or a piece of calligraphy sold for the programme is not a catalogue product: an aid officer
records it as itself (the item, the buyer, the amount, the part that is a donation, the producer or the
cause it benefits, the evidence) and a second, different officer approves it, which writes its ledger entry
(source ``charity-sale:<id>``, channel ``charity``) in the same transaction, exactly like off-shop sales.

Only the goods part (``amount_fen - donated_fen``) is counted in the aid ledger; the donated part is
reported apart (``charity`` in the programme totals) and never mixed into the goods totals. The ledger
needs a category, product, variant and producer on every entry, so each charity item is counted under
one hidden catalogue entry (category ``_charity``, inactive product ``_charity-item``, one inactive variant)
and credited to the producer the sale names, or, when it names a cause instead, to the inactive producer
``_charity-cause``. These rows are created on first use; the storefront never shows them.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.aid.errors import (
    BadCharitySale,
    CharitySaleNotApproved,
    CharitySaleNotFound,
    CharitySaleNotPending,
    DuplicateCharityEvidence,
    OfficerRequired,
)
from shop.aid.models import (
    CHARITY_CATEGORY_CODE,
    CHARITY_CAUSE_PRODUCER_CODE,
    CHARITY_PRODUCT_SLUG,
    CHARITY_SKU,
    AidProgramme,
    CharitySale,
)
from shop.aid.offshop import (
    EVIDENCE_KINDS,
    MAX_AMOUNT_FEN,
    OFFICER_ROLES,
    decide_four_eyes,
    normalise_evidence,
)
from shop.aid.services import SaleLine, programme_on, record_sale, reverse_sale
from shop.audit.services import record as audit
from shop.catalog.models import Category, Producer, Product, Variant
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import db, utcnow


def _require_officer(user: User) -> None:
    if user.role not in OFFICER_ROLES:
        raise OfficerRequired("only aid officers record and decide charity sales")


def _bad(field: str, message: str) -> BadCharitySale:
    return BadCharitySale(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _get_or_create(model, where, make):
    """Return the row ``where`` finds, creating it with ``make()`` if missing (two first uses at once:
    the unique code decides, the loser reads the winner's row)."""
    row = db.session.scalar(select(model).where(where))
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = make()
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        row = db.session.scalar(select(model).where(where))
        if row is None:
            raise
    return row


def cause_producer() -> Producer:
    """The inactive producer a charity sale is credited to when it benefits a cause, not a producer."""
    return _get_or_create(
        Producer,
        Producer.code == CHARITY_CAUSE_PRODUCER_CODE,
        lambda: Producer(
            code=CHARITY_CAUSE_PRODUCER_CODE,
            name_zh="义卖公益事业",
            name_en="Charity-sale cause",
            legal_name="义卖公益事业（内部）",
            kind="cause",
            township="",
            active=False,
        ),
    )


def charity_variant() -> Variant:
    """The hidden variant every charity item is counted under (inactive product in a hidden category)."""
    existing = db.session.scalar(select(Variant).where(Variant.sku == CHARITY_SKU))
    if existing is not None:
        return existing
    category = _get_or_create(
        Category,
        Category.code == CHARITY_CATEGORY_CODE,
        lambda: Category(
            code=CHARITY_CATEGORY_CODE, name_zh="义卖品", name_en="Charity items", position=9999
        ),
    )
    owner = cause_producer()
    product = _get_or_create(
        Product,
        Product.slug == CHARITY_PRODUCT_SLUG,
        lambda: Product(
            slug=CHARITY_PRODUCT_SLUG,
            category_id=category.id,
            producer_id=owner.id,
            name_zh="义卖品",
            name_en="Charity item",
            description_zh="义卖的单件物品（书画等），仅用于消费帮扶台账，不在商城出售。",
            description_en="A one-off item sold at a charity sale; for the aid ledger only, never on sale.",
            active=False,
        ),
    )
    return _get_or_create(
        Variant,
        Variant.sku == CHARITY_SKU,
        lambda: Variant(
            product_id=product.id,
            sku=CHARITY_SKU,
            name_zh="义卖品",
            name_en="Charity item",
            unit_zh="件",
            unit_en="item",
            price_fen=1,  # never sold: the price is a placeholder; the sale carries its own amount
            active=False,
        ),
    )


def record_charity_sale(
    officer: User,
    *,
    item: str,
    amount_fen: int,
    donated_fen: int,
    sold_on: date,
    evidence: str,
    evidence_kind: str = "receipt",
    producer_code: str | None = None,
    cause: str = "",
    buyer: str = "",
    note: str = "",
) -> CharitySale:
    """Record a charity sale with its evidence; it waits for a second officer's approval."""
    _require_officer(officer)
    item = (item or "").strip()
    if not item:
        raise _bad("item", "required")
    if amount_fen <= 0 or amount_fen > MAX_AMOUNT_FEN:
        raise _bad("amount_fen", f"between 1 and {MAX_AMOUNT_FEN}")
    if donated_fen < 0:
        raise _bad("donated_fen", "not negative")
    if donated_fen > amount_fen:
        raise _bad("donated_fen", "at most amount_fen (the donation is part of what the buyer paid)")
    if evidence_kind not in EVIDENCE_KINDS:
        raise _bad("evidence_kind", f"one of {', '.join(EVIDENCE_KINDS)}")
    key = normalise_evidence(evidence or "")
    if not key:
        raise _bad("evidence", "required")
    if len(key) > 80:
        raise _bad("evidence", "at most 80 characters")
    if sold_on > clock.today():
        raise _bad("sold_on", "in the future")
    if programme_on(sold_on) is None:
        raise _bad("sold_on", "no aid programme covers this date")
    producer_id = None
    if producer_code:
        producer = db.session.scalar(select(Producer).where(Producer.code == producer_code))
        if producer is None or producer.code == CHARITY_CAUSE_PRODUCER_CODE:
            raise _bad("producer", f"unknown producer {producer_code}")
        producer_id = producer.id
    elif not cause.strip():
        cause = "消费帮扶"  # no producer named: it benefits the programme itself
    _refuse_duplicate(key)
    sale = CharitySale(
        status="pending",
        item=item,
        buyer=buyer.strip(),
        amount_fen=amount_fen,
        donated_fen=donated_fen,
        producer_id=producer_id,
        cause=cause.strip(),
        sold_on=sold_on,
        evidence_kind=evidence_kind,
        evidence_number=evidence.strip(),
        evidence_key=key,
        note=note.strip(),
        recorded_by_id=officer.id,
    )
    try:
        # A concurrent officer entering the same evidence waits on the unique index, then fails here.
        with db.session.begin_nested():
            db.session.add(sale)
            db.session.flush()
    except IntegrityError:
        _refuse_duplicate(key)
        raise
    audit(
        officer,
        "aid.charity_recorded",
        target_type="aid_charity_sale",
        target_id=sale.id,
        evidence=sale.evidence_number,
        amount_fen=amount_fen,
        donated_fen=donated_fen,
    )
    return sale


def _refuse_duplicate(key: str) -> None:
    existing = db.session.scalar(
        select(CharitySale).where(
            CharitySale.evidence_key == key, CharitySale.status.in_(("pending", "approved"))
        )
    )
    if existing is not None:
        raise DuplicateCharityEvidence(
            f"evidence {existing.evidence_number} is already recorded "
            f"(charity sale {existing.id}, {existing.status}); it cannot count twice",
            existing_id=existing.id,
        )


def get_charity_sale(sale_id: int) -> CharitySale:
    """Return the charity sale or raise 404."""
    sale = db.session.get(CharitySale, sale_id)
    if sale is None:
        raise CharitySaleNotFound(f"no charity sale {sale_id}")
    return sale


def list_charity_sales(*, status: str | None, page: int, per_page: int) -> tuple[list[CharitySale], int]:
    """Charity sales, newest first, optionally of one status."""
    stmt = select(CharitySale).order_by(CharitySale.id.desc())
    if status:
        stmt = stmt.where(CharitySale.status == status)
    return page_of(stmt, page=page, per_page=per_page)


def _decide(officer: User, sale_id: int, status: str, reason: str) -> CharitySale:
    _require_officer(officer)
    sale = get_charity_sale(sale_id)
    return decide_four_eyes(officer, sale, status, reason, not_pending=CharitySaleNotPending, kind="charity")


def _producer_for(sale: CharitySale) -> int:
    return sale.producer_id if sale.producer_id is not None else cause_producer().id


def approve_charity_sale(officer: User, sale_id: int) -> CharitySale:
    """Approve a pending sale (a second officer): its goods part is counted in the same transaction."""
    sale = _decide(officer, sale_id, "approved", "")
    if sale.goods_fen > 0:  # a sale that was all donation counts nothing as goods
        record_sale(
            source=sale.source,
            occurred_at=clock.at_local(sale.sold_on),
            channel="charity",
            lines=[SaleLine(charity_variant().id, 1, sale.goods_fen)],
            producer_id=_producer_for(sale),
        )
    return sale


def reject_charity_sale(officer: User, sale_id: int, *, reason: str) -> CharitySale:
    """Reject a pending sale with a reason (a second officer); it never counts."""
    reason = reason.strip()
    if not reason:
        raise _bad("reason", "required")
    return _decide(officer, sale_id, "rejected", reason)


def void_charity_sale(officer: User, sale_id: int, *, reason: str) -> CharitySale:
    """Take back an approved sale found wrong later: reverse its entry, dated today, with a reason."""
    _require_officer(officer)
    reason = reason.strip()
    if not reason:
        raise _bad("reason", "required")
    sale = get_charity_sale(sale_id)
    won = db.session.execute(
        update(CharitySale)
        .where(CharitySale.id == sale_id, CharitySale.status == "approved")
        .values(status="voided", voided_by_id=officer.id, voided_at=utcnow(), void_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(sale)
    if not won:
        if sale.status == "voided":
            return sale
        raise CharitySaleNotApproved(f"charity sale {sale_id} is {sale.status}, not approved")
    audit(officer, "aid.charity_voided", target_type="aid_charity_sale", target_id=sale_id, reason=reason)
    if sale.goods_fen > 0:
        reverse_sale(
            source=f"charity-void:{sale.id}",
            original_source=sale.source,
            occurred_at=utcnow(),
            lines=[SaleLine(charity_variant().id, 1, sale.goods_fen)],
        )
    return sale


def charity_totals(programme_id: int, start: date, end: date) -> dict:
    """Approved charity sales of the programme sold in ``[start, end]``: goods part, donated part, count.

    Voided sales are left out (their entries are reversed); ``sales_fen`` is what the ledger counted as
    goods, ``donated_fen`` the donations, which are never part of the aid goods totals.
    """
    prog = db.session.get(AidProgramme, programme_id)
    lo, hi = max(start, prog.starts_on), min(end, prog.ends_on)
    row = db.session.execute(
        select(
            func.coalesce(func.sum(CharitySale.amount_fen - CharitySale.donated_fen), 0),
            func.coalesce(func.sum(CharitySale.donated_fen), 0),
            func.count(),
        ).where(CharitySale.status == "approved", CharitySale.sold_on >= lo, CharitySale.sold_on <= hi)
    ).one()
    return {"sales_fen": int(row[0]), "donated_fen": int(row[1]), "count": int(row[2])}
