"""Sales made outside the shop, counted only with evidence and a second officer's approval.

A trade-fair stand, a charity art sale, a unit's purchase invoiced offline, a WeChat group subscription:
an aid officer records the sale with its evidence (invoice or receipt number, date, channel, producer,
products and amounts); it counts only once a second, different officer approves it, which writes the
ledger entries (source ``offline-sale:<id>``) in the same transaction. A rejection needs a reason. The
same evidence number for the same producer can be live (pending or approved) only once: a unique index
decides, so two officers entering the same invoice at the same moment get one record and one 409.
An approved sale found wrong later is voided (with a reason), which reverses its entries.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.aid.errors import (
    BadOffshopSale,
    DuplicateEvidence,
    OfficerRequired,
    OffshopSaleNotApproved,
    OffshopSaleNotFound,
    OffshopSaleNotPending,
    SecondOfficerRequired,
)
from shop.aid.models import CHARITY_SKU, OFFSHOP_CHANNELS, OffshopLine, OffshopSale
from shop.aid.services import SaleLine, programme_on, record_sale, reverse_sale
from shop.audit.services import record as audit
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import db, utcnow

OFFICER_ROLES = ("aid_officer", "admin")
EVIDENCE_KINDS = ("invoice", "receipt", "contract")
MAX_LINES = 50
MAX_AMOUNT_FEN = 10**12  # ten billion yuan on one piece of evidence is a typo


@dataclass(frozen=True)
class OffshopLineInput:
    sku: str
    quantity: int
    amount_fen: int


def normalise_evidence(number: str) -> str:
    """Canonical form of an evidence number: full-width to half-width, no spaces, upper case.

    "ＦＰ ２０２６-001" and "fp2026-001" are the same invoice and must not count twice.
    """
    return "".join(unicodedata.normalize("NFKC", number).split()).upper()


def _require_officer(user: User) -> None:
    if user.role not in OFFICER_ROLES:
        raise OfficerRequired("only aid officers record and decide off-shop sales")


def _bad(field: str, message: str) -> BadOffshopSale:
    return BadOffshopSale(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _variants(lines: list[OffshopLineInput]) -> list[tuple[Variant, OffshopLineInput]]:
    if not lines:
        raise _bad("lines", "at least one product line")
    if len(lines) > MAX_LINES:
        raise _bad("lines", f"at most {MAX_LINES} lines")
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise _bad("lines", "each SKU once per evidence (add the quantities up)")
    found = {v.sku: v for v in db.session.scalars(select(Variant).where(Variant.sku.in_(skus)))}
    out = []
    for i, line in enumerate(lines):
        variant = found.get(line.sku)
        if variant is None or variant.sku == CHARITY_SKU:  # charity items: /aid/charity-sales
            raise _bad(f"lines.{i}.sku", f"unknown SKU {line.sku}")
        if line.quantity <= 0 or line.amount_fen <= 0:
            raise _bad(f"lines.{i}", "quantity and amount_fen must be positive")
        out.append((variant, line))
    return out


def record_offshop_sale(
    officer: User,
    *,
    channel: str,
    evidence_kind: str,
    evidence_number: str,
    sold_on: date,
    lines: list[OffshopLineInput],
    location_code: str | None = None,
    buyer_name: str = "",
    work_unit_id: int | None = None,
    note: str = "",
) -> OffshopSale:
    """Record an outside sale with its evidence; it waits for a second officer's approval."""
    _require_officer(officer)
    if channel not in OFFSHOP_CHANNELS:
        raise _bad("channel", f"one of {', '.join(OFFSHOP_CHANNELS)} (hall sales go through the counter)")
    if evidence_kind not in EVIDENCE_KINDS:
        raise _bad("evidence_kind", f"one of {', '.join(EVIDENCE_KINDS)}")
    key = normalise_evidence(evidence_number)
    if not key:
        raise _bad("evidence_number", "required")
    if sold_on > clock.today():
        raise _bad("sold_on", "in the future")
    if programme_on(sold_on) is None:
        raise _bad("sold_on", "no aid programme covers this date")
    pairs = _variants(lines)
    producers = {v.product.producer_id for v, _ in pairs}
    if len(producers) != 1:
        raise _bad("lines", "one record per producer: split evidence covering several producers")
    amount = sum(line.amount_fen for _, line in pairs)
    if amount > MAX_AMOUNT_FEN:
        raise _bad("lines", "amount too large")
    location_id = None
    if location_code:
        loc = db.session.scalar(select(Location).where(Location.code == location_code))
        if loc is None:
            raise _bad("location", f"unknown location {location_code}")
        location_id = loc.id
    if work_unit_id is not None:
        unit = db.session.get(User, work_unit_id)
        if unit is None or unit.buyer_kind != "work_unit":
            raise _bad("work_unit_id", "not a registered work-unit account")
        buyer_name = buyer_name or unit.invoice_title or unit.name
    producer_id = producers.pop()
    _refuse_duplicate(producer_id, key)
    sale = OffshopSale(
        status="pending",
        channel=channel,
        evidence_kind=evidence_kind,
        evidence_number=evidence_number.strip(),
        evidence_key=key,
        producer_id=producer_id,
        location_id=location_id,
        sold_on=sold_on,
        amount_fen=amount,
        buyer_name=buyer_name.strip(),
        work_unit_id=work_unit_id,
        note=note.strip(),
        recorded_by_id=officer.id,
        lines=[
            OffshopLine(variant_id=v.id, quantity=line.quantity, amount_fen=line.amount_fen)
            for v, line in pairs
        ],
    )
    try:
        # A concurrent officer entering the same evidence waits on the unique index, then fails here.
        with db.session.begin_nested():
            db.session.add(sale)
            db.session.flush()
    except IntegrityError:
        _refuse_duplicate(producer_id, key)
        raise
    audit(
        officer,
        "aid.offshop_recorded",
        target_type="aid_offshop_sale",
        target_id=sale.id,
        evidence=sale.evidence_number,
        amount_fen=amount,
        channel=channel,
    )
    return sale


def _refuse_duplicate(producer_id: int, key: str) -> None:
    existing = db.session.scalar(
        select(OffshopSale).where(
            OffshopSale.producer_id == producer_id,
            OffshopSale.evidence_key == key,
            OffshopSale.status.in_(("pending", "approved")),
        )
    )
    if existing is not None:
        raise DuplicateEvidence(
            f"evidence {existing.evidence_number} of this producer is already recorded "
            f"(off-shop sale {existing.id}, {existing.status}); it cannot count twice",
            existing_id=existing.id,
        )


def get_offshop_sale(sale_id: int) -> OffshopSale:
    """Return the off-shop sale or raise 404."""
    sale = db.session.get(OffshopSale, sale_id)
    if sale is None:
        raise OffshopSaleNotFound(f"no off-shop sale {sale_id}")
    return sale


def list_offshop_sales(*, status: str | None, page: int, per_page: int) -> tuple[list[OffshopSale], int]:
    """Off-shop sales, newest first, optionally of one status."""
    stmt = select(OffshopSale).order_by(OffshopSale.id.desc())
    if status:
        stmt = stmt.where(OffshopSale.status == status)
    return page_of(stmt, page=page, per_page=per_page)


def decide_four_eyes(
    officer: User, sale, status: str, reason: str, *, not_pending: type[Exception], kind: str
):
    """Move a pending ``sale`` (an off-shop or a charity sale) to ``status`` with one conditional UPDATE, by an
    officer other than the one who recorded it: two deciders cannot both win; the same decision retried
    answers as the first time. ``kind`` names it in the audit log (``aid.<kind>_<status>``)."""
    if sale.recorded_by_id == officer.id:
        raise SecondOfficerRequired("the officer who recorded this sale cannot decide it; ask a colleague")
    model = type(sale)
    won = db.session.execute(
        update(model)
        .where(model.id == sale.id, model.status == "pending")
        .values(status=status, decided_by_id=officer.id, decided_at=utcnow(), decision_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(sale)
    if not won:
        if sale.status == status and sale.decided_by_id == officer.id:
            return sale
        raise not_pending(f"sale {sale.id} is already {sale.status}")
    audit(officer, f"aid.{kind}_{status}", target_type=model.__tablename__, target_id=sale.id, reason=reason)
    return sale


def _decide(officer: User, sale_id: int, status: str, reason: str) -> OffshopSale:
    _require_officer(officer)
    sale = get_offshop_sale(sale_id)
    return decide_four_eyes(officer, sale, status, reason, not_pending=OffshopSaleNotPending, kind="offshop")


def approve_offshop_sale(officer: User, sale_id: int) -> OffshopSale:
    """Approve a pending sale (a second officer) and count it in the aid ledger in the same transaction."""
    sale = _decide(officer, sale_id, "approved", "")
    record_sale(
        source=sale.source,
        # Noon, local time, of the day on the evidence: the entry's local day is that day.
        occurred_at=clock.at_local(sale.sold_on),
        channel=sale.channel,
        lines=[
            SaleLine(line.variant_id, line.quantity, line.amount_fen, sale.location_id) for line in sale.lines
        ],
        direct_purchase=sale.channel == "work_unit",
        buyer_id=sale.work_unit_id,
    )
    return sale


def reject_offshop_sale(officer: User, sale_id: int, *, reason: str) -> OffshopSale:
    """Reject a pending sale with a reason (a second officer); it never counts."""
    reason = reason.strip()
    if not reason:
        raise _bad("reason", "required")
    return _decide(officer, sale_id, "rejected", reason)


def void_offshop_sale(officer: User, sale_id: int, *, reason: str) -> OffshopSale:
    """Take back an approved sale found wrong later: reverse its entries, dated today, with a reason."""
    _require_officer(officer)
    reason = reason.strip()
    if not reason:
        raise _bad("reason", "required")
    sale = get_offshop_sale(sale_id)
    won = db.session.execute(
        update(OffshopSale)
        .where(OffshopSale.id == sale_id, OffshopSale.status == "approved")
        .values(status="voided", voided_by_id=officer.id, voided_at=utcnow(), void_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(sale)
    if not won:
        if sale.status == "voided":
            return sale
        raise OffshopSaleNotApproved(f"off-shop sale {sale_id} is {sale.status}, not approved")
    audit(officer, "aid.offshop_voided", target_type="aid_offshop_sale", target_id=sale_id, reason=reason)
    reverse_sale(
        source=f"offline-void:{sale.id}",
        original_source=sale.source,
        occurred_at=utcnow(),
        lines=[SaleLine(line.variant_id, line.quantity, line.amount_fen) for line in sale.lines],
    )
    return sale
