"""Request and response schemas of the work-unit API (they generate its OpenAPI document)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.core.api import PageArgs, PageSchema
from shop.workunits.models import INVOICE_KINDS, UNIT_TYPES, VERIFICATION_STATES
from shop.workunits.quotas import SORTS


class VerifyIn(ma.Schema):
    note = f.String(required=True, validate=v.Length(min=1, max=1000))


class UnitRejectIn(ma.Schema):
    reason = f.String(required=True, validate=v.Length(min=1, max=1000))


class UnitPatchIn(ma.Schema):
    payment_terms_days = f.Integer(strict=True, required=True, validate=v.Range(min=0, max=365))


class VerificationEventOut(ma.Schema):
    from_state = f.String(allow_none=True)
    to_state = f.String(required=True)
    note = f.String()
    actor_id = f.Integer(allow_none=True)
    at = f.DateTime(required=True)


class UnitOut(ma.Schema):
    user_id = f.Integer(required=True, metadata={"description": "the unit's id: its registering account"})
    legal_name = f.String(required=True)
    unit_type = f.String(required=True, metadata={"enum": list(UNIT_TYPES)})
    credit_code = f.String(required=True)
    contact_name = f.String()
    contact_phone = f.String()
    verification = f.String(required=True, metadata={"enum": list(VERIFICATION_STATES)})
    verification_note = f.String()
    verified_at = f.DateTime(allow_none=True)
    payment_terms_days = f.Integer()
    balance_fen = f.Integer()
    overdue_fen = f.Integer()
    currency = f.String()
    history = f.List(f.Nested(VerificationEventOut))
    same_credit_code = f.List(f.Integer(), metadata={"description": "other units with this credit code"})


class UnitListArgs(PageArgs):
    verification = f.String(validate=v.OneOf(VERIFICATION_STATES))
    q = f.String(load_default="", validate=v.Length(max=100))


class UnitPage(PageSchema):
    items = f.List(f.Nested(UnitOut), required=True)


class QuotaIn(ma.Schema):
    year = f.Integer(strict=True, required=True, validate=v.Range(min=2000, max=2100))
    amount_fen = f.Integer(strict=True, required=True, validate=v.Range(min=0, max=10**13))


class YearArgs(ma.Schema):
    year = f.Integer(validate=v.Range(min=2000, max=2100))


class QuarterOut(ma.Schema):
    quarter = f.Integer(required=True)
    expected_fen = f.Integer(required=True)
    purchased_fen = f.Integer(required=True)
    behind = f.Boolean(required=True)


class ProgressOut(ma.Schema):
    year = f.Integer(required=True)
    quota_fen = f.Integer(required=True)
    purchased_fen = f.Integer(required=True)
    progress = f.Float(required=True)
    currency = f.String()
    behind = f.Boolean()
    quarters = f.List(f.Nested(QuarterOut))


class QuotaRowOut(ProgressOut):
    user_id = f.Integer(required=True)
    legal_name = f.String(required=True)
    credit_code = f.String()
    unit_type = f.String()
    verification = f.String()


class QuotaListArgs(PageArgs):
    year = f.Integer(validate=v.Range(min=2000, max=2100))
    sort = f.String(load_default="progress", validate=v.OneOf(SORTS))
    order = f.String(load_default="asc", validate=v.OneOf(["asc", "desc"]))


class QuotaExportArgs(ma.Schema):
    year = f.Integer(validate=v.Range(min=2000, max=2100))
    sort = f.String(load_default="progress", validate=v.OneOf(SORTS))
    order = f.String(load_default="asc", validate=v.OneOf(["asc", "desc"]))


class QuotaPage(PageSchema):
    items = f.List(f.Nested(QuotaRowOut), required=True)
    year = f.Integer(required=True)


class BuyerIn(ma.Schema):
    email = f.Email(required=True, validate=v.Length(max=254))
    name = f.String(required=True, validate=v.Length(min=1, max=120))
    password = f.String(required=True, load_only=True, validate=v.Length(min=8, max=128))


class BuyerOut(ma.Schema):
    id = f.Integer(required=True)
    email = f.String(required=True)
    name = f.String(required=True)
    role = f.String(required=True, metadata={"description": "manager or buyer"})


class BuyerList(ma.Schema):
    items = f.List(f.Nested(BuyerOut), required=True)


class TransferIn(ma.Schema):
    amount_fen = f.Integer(strict=True, required=True, validate=v.Range(min=1, max=10**12))
    reference = f.String(required=True, validate=v.Length(min=1, max=120))
    received_on = f.Date()


class AccountEntryOut(ma.Schema):
    id = f.Integer(required=True)
    kind = f.String(required=True)
    amount_fen = f.Integer(required=True)
    booked_on = f.Date(required=True)
    due_on = f.Date(allow_none=True)
    reference = f.String()
    order_id = f.Integer(allow_none=True)
    card_batch_id = f.Integer(allow_none=True)


class StatementOut(ma.Schema):
    month = f.String(required=True)
    opening_fen = f.Integer(required=True)
    charges_fen = f.Integer(required=True)
    payments_fen = f.Integer(required=True)
    closing_fen = f.Integer(required=True)
    overdue_fen = f.Integer(required=True)
    currency = f.String(required=True)
    entries = f.List(f.Nested(AccountEntryOut), required=True)


class OverdueOut(ma.Schema):
    user_id = f.Integer(required=True)
    legal_name = f.String(required=True)
    overdue_fen = f.Integer(required=True)
    balance_fen = f.Integer(required=True)
    oldest_due_on = f.Date(allow_none=True)
    currency = f.String(required=True)


class OverdueList(ma.Schema):
    items = f.List(f.Nested(OverdueOut), required=True)


class CardPaymentIn(ma.Schema):
    code = f.String(required=True, validate=v.Length(min=1, max=40))


class BulkOrderOut(ma.Schema):
    id = f.Integer(required=True)
    rows = f.Integer(required=True)
    total_fen = f.Integer(required=True)
    currency = f.String(required=True)
    orders = f.List(f.Dict(), required=True, metadata={"description": "[{id, number, total_fen, rows}]"})


class InvoiceRequestIn(ma.Schema):
    kind = f.String(required=True, validate=v.OneOf(INVOICE_KINDS))
    title = f.String(required=True, validate=v.Length(min=1, max=200))
    tax_id = f.String(load_default="", validate=v.Length(max=30))
    email = f.String(load_default="", validate=v.Length(max=254))
    bank_name = f.String(load_default="", validate=v.Length(max=120))
    bank_account = f.String(load_default="", validate=v.Length(max=40))
    address = f.String(load_default="", validate=v.Length(max=200))
    phone = f.String(load_default="", validate=v.Length(max=30))


class InvoiceOut(ma.Schema):
    id = f.Integer(required=True)
    status = f.String(required=True, metadata={"enum": ["requested", "issued"]})
    order_id = f.Integer()
    order_number = f.String()
    kind = f.String()
    title = f.String()
    tax_id = f.String()
    email = f.String()
    bank_name = f.String()
    bank_account = f.String()
    address = f.String()
    phone = f.String()
    amount_fen = f.Integer()
    currency = f.String()
    number = f.String()
    requested_at = f.DateTime()
    issued_at = f.DateTime(allow_none=True)
    pdf_url = f.String(allow_none=True)
    needs_red_letter = f.Boolean()
    red_letter_number = f.String()


class InvoiceListArgs(PageArgs):
    status = f.String(validate=v.OneOf(["requested", "issued", "red_letter"]))


class InvoicePage(PageSchema):
    items = f.List(f.Nested(InvoiceOut), required=True)


class IssueIn(ma.Schema):
    number = f.String(required=True, validate=v.Length(min=1, max=40))


class CardBatchIn(ma.Schema):
    buyer_unit = f.Integer(strict=True, required=True, validate=v.Range(min=1, max=2**31 - 1))
    count = f.Integer(strict=True, required=True, validate=v.Range(min=1, max=1000))
    value_fen = f.Integer(strict=True, required=True, validate=v.Range(min=1, max=100_000))
    expires_on = f.Date(required=True)


class CardCodeOut(ma.Schema):
    code = f.String(required=True)


class CardBatchOut(ma.Schema):
    batch = f.Integer(required=True)
    count = f.Integer()
    value_fen = f.Integer()
    expires_on = f.Date()
    currency = f.String()
    cards = f.List(f.Nested(CardCodeOut), required=True, metadata={"description": "shown once, never again"})


class CardBatchSummaryOut(ma.Schema):
    batch = f.Integer(required=True)
    user_id = f.Integer(required=True)
    legal_name = f.String(required=True)
    count = f.Integer(required=True)
    value_fen = f.Integer(required=True)
    expires_on = f.Date(required=True)
    issued_at = f.DateTime(required=True)
    redeemed_fen = f.Integer(required=True)
    balance_fen = f.Integer(required=True)
    currency = f.String(required=True)


class CardBatchList(ma.Schema):
    items = f.List(f.Nested(CardBatchSummaryOut), required=True)


class UnitArgs(ma.Schema):
    unit = f.Integer(validate=v.Range(min=1, max=2**31 - 1))


def unit_dict(unit, *, status=None, history=None, same=None) -> dict:
    out = {
        "user_id": unit.account_id,
        "legal_name": unit.legal_name,
        "unit_type": unit.unit_type,
        "credit_code": unit.credit_code,
        "contact_name": unit.contact_name,
        "contact_phone": unit.contact_phone,
        "verification": unit.verification,
        "verification_note": unit.verification_note,
        "verified_at": unit.verified_at,
        "payment_terms_days": unit.payment_terms_days,
        "currency": "CNY",
    }
    if status is not None:
        out["balance_fen"] = status.balance_fen
        out["overdue_fen"] = status.overdue_fen
    if history is not None:
        out["history"] = [
            {
                "from_state": e.from_state,
                "to_state": e.to_state,
                "note": e.note,
                "actor_id": e.actor_id,
                "at": e.at,
            }
            for e in history
        ]
    if same is not None:
        out["same_credit_code"] = [u.account_id for u in same]
    return out


def progress_dict(s) -> dict:
    return {
        "year": s.year,
        "quota_fen": s.quota_fen,
        "purchased_fen": s.purchased_fen,
        "progress": s.progress,
        "currency": "CNY",
        "behind": s.behind,
        "quarters": s.quarters,
    }


def quota_row_dict(s) -> dict:
    return {
        **progress_dict(s),
        "user_id": s.unit.account_id,
        "legal_name": s.unit.legal_name,
        "credit_code": s.unit.credit_code,
        "unit_type": s.unit.unit_type,
        "verification": s.unit.verification,
    }


def entry_dict(e) -> dict:
    return {
        "id": e.id,
        "kind": e.kind,
        "amount_fen": e.amount_fen,
        "booked_on": e.booked_on,
        "due_on": e.due_on,
        "reference": e.reference,
        "order_id": e.order_id,
        "card_batch_id": e.card_batch_id,
    }


def statement_dict(st) -> dict:
    return {
        "month": st.month.strftime("%Y-%m"),
        "opening_fen": st.opening_fen,
        "charges_fen": st.charges_fen,
        "payments_fen": st.payments_fen,
        "closing_fen": st.closing_fen,
        "overdue_fen": st.overdue_fen,
        "currency": "CNY",
        "entries": [entry_dict(e) for e in st.entries],
    }


def invoice_dict(inv, *, order_number: str = "", needs_red_letter: bool = False) -> dict:
    return {
        "id": inv.id,
        "status": inv.status,
        "order_id": inv.order_id,
        "order_number": order_number,
        "kind": inv.kind,
        "title": inv.title,
        "tax_id": inv.tax_id,
        "email": inv.email,
        "bank_name": inv.bank_name,
        "bank_account": inv.bank_account,
        "address": inv.address,
        "phone": inv.phone,
        "amount_fen": inv.amount_fen,
        "currency": "CNY",
        "number": inv.number,
        "requested_at": inv.requested_at,
        "issued_at": inv.issued_at,
        "pdf_url": f"/api/v1/invoices/{inv.id}/pdf" if inv.pdf_name else None,
        "needs_red_letter": needs_red_letter,
        "red_letter_number": inv.red_letter_number,
    }


def batch_summary_dict(s) -> dict:
    return {
        "batch": s.batch.id,
        "user_id": s.unit.account_id,
        "legal_name": s.unit.legal_name,
        "count": s.batch.count,
        "value_fen": s.batch.value_fen,
        "expires_on": s.batch.expires_on,
        "issued_at": s.batch.issued_at,
        "redeemed_fen": s.redeemed_fen,
        "balance_fen": s.balance_fen,
        "currency": "CNY",
    }
