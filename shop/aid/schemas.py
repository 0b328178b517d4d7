"""Aid request and response schemas (they also generate the OpenAPI document)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v
from sqlalchemy import select

from shop.accounts.models import User
from shop.aid.exports import FORMATS
from shop.aid.models import (
    CHANNELS,
    CHARITY_STATUSES,
    OFFSHOP_CHANNELS,
    OFFSHOP_STATUSES,
    AidProgramme,
    CharitySale,
    OffshopSale,
)
from shop.aid.offshop import EVIDENCE_KINDS
from shop.catalog.models import Location, Producer, Variant
from shop.core.api import PageArgs, PageSchema
from shop.core.db import db

CODE = v.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", error="letters, digits, '-', '_' or '.', at most 40")
FEN = v.Range(min=1, max=10**15)


class RangeArgs(ma.Schema):
    start = f.Date(data_key="from", load_default=None)
    end = f.Date(data_key="to", load_default=None)


class ExportArgs(RangeArgs):
    format = f.String(load_default="csv", validate=v.OneOf(FORMATS))


class WorkUnitArgs(PageArgs, RangeArgs):
    pass


class TargetSchema(ma.Schema):
    kind = f.String(required=True)
    key = f.String(required=True)
    target_fen = f.Integer(required=True)


class ProgrammeSchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    starts_on = f.Date(required=True)
    ends_on = f.Date(required=True)
    target_fen = f.Integer(required=True)
    currency = f.String(required=True)
    targets = f.List(f.Nested(TargetSchema))
    note = f.String()


class ProgrammeListSchema(ma.Schema):
    items = f.List(f.Nested(ProgrammeSchema), required=True)


class ProgrammeCreateSchema(ma.Schema):
    code = f.String(required=True, validate=CODE)
    name = f.String(required=True, validate=v.Length(min=1, max=160))
    name_en = f.String(required=True, validate=v.Length(min=1, max=200))
    starts_on = f.Date(required=True)
    ends_on = f.Date(required=True)
    target_fen = f.Integer(required=True, strict=True, validate=FEN)
    channel_targets = f.Dict(
        keys=f.String(validate=v.OneOf(CHANNELS)),
        values=f.Integer(strict=True, validate=FEN),
        load_default=None,
    )
    location_targets = f.Dict(
        keys=f.String(validate=v.Length(min=1, max=40)),
        values=f.Integer(strict=True, validate=FEN),
        load_default=None,
    )
    township_targets = f.Dict(
        keys=f.String(validate=v.Length(min=1, max=60)),
        values=f.Integer(strict=True, validate=FEN),
        load_default=None,
        metadata={"description": "Gangu township (Chinese or English name) -> target in fen"},
    )
    note = f.String(validate=v.Length(max=2000), load_default="")


class ProgrammeUpdateSchema(ma.Schema):
    name = f.String(validate=v.Length(min=1, max=160))
    name_en = f.String(validate=v.Length(min=1, max=200))
    target_fen = f.Integer(strict=True, validate=FEN)
    channel_targets = f.Dict(
        keys=f.String(validate=v.OneOf(CHANNELS)), values=f.Integer(strict=True, validate=FEN)
    )
    location_targets = f.Dict(
        keys=f.String(validate=v.Length(min=1, max=40)), values=f.Integer(strict=True, validate=FEN)
    )
    township_targets = f.Dict(
        keys=f.String(validate=v.Length(min=1, max=60)), values=f.Integer(strict=True, validate=FEN)
    )
    note = f.String(validate=v.Length(max=2000))


class ProgressSchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    starts_on = f.String()
    ends_on = f.String()
    target_fen = f.Integer(required=True)
    total_fen = f.Integer(required=True, metadata={"description": "counted (certified) aid sales so far"})
    currency = f.String(required=True)
    progress = f.Float(required=True, metadata={"description": "total_fen / target_fen, e.g. 0.1234"})
    as_of = f.String(required=True)


class BreakdownSchema(ma.Schema):
    key = f.Raw(allow_none=True)
    name = f.String(required=True)
    name_en = f.String()
    total_fen = f.Integer(required=True)
    qualifying_fen = f.Integer(required=True)
    code = f.String(metadata={"description": "producer code (by_producer)"})
    township = f.String()
    linked_households = f.Integer()
    kind = f.String(allow_none=True, metadata={"description": "location kind (by_location)"})
    imports = f.Integer(metadata={"description": "imports with counted lines (by_platform)"})
    active_from = f.Date(allow_none=True, metadata={"description": "the fair's first day (by_fair)"})
    active_until = f.Date(allow_none=True, metadata={"description": "the fair's last day (by_fair)"})


class TargetProgressSchema(ma.Schema):
    kind = f.String(required=True)
    key = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    target_fen = f.Integer(required=True)
    qualifying_fen = f.Integer(required=True)
    progress = f.Float(required=True)


class ProgrammeRefSchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()


class TotalsSchema(ma.Schema):
    programme = f.Nested(ProgrammeRefSchema, required=True)
    start = f.Date(attribute="from", data_key="from", required=True)
    end = f.Date(attribute="to", data_key="to", required=True)
    currency = f.String(required=True)
    target_fen = f.Integer(required=True)
    total_fen = f.Integer(required=True, metadata={"description": "all recorded aid sales, net of refunds"})
    qualifying_fen = f.Integer(required=True, metadata={"description": "certified products only; counts"})
    non_qualifying_fen = f.Integer(required=True)
    progress = f.Float(required=True, metadata={"description": "qualifying_fen / target_fen"})
    direct_purchase_fen = f.Integer(required=True)
    helped_sales_fen = f.Integer(required=True)
    by_channel = f.List(f.Nested(BreakdownSchema), required=True)
    by_category = f.List(f.Nested(BreakdownSchema), required=True)
    by_producer = f.List(f.Nested(BreakdownSchema), required=True)
    by_township = f.List(f.Nested(BreakdownSchema), required=True)
    by_location = f.List(f.Nested(BreakdownSchema), required=True)
    by_month = f.List(f.Nested(BreakdownSchema), required=True)
    by_platform = f.List(
        f.Nested(BreakdownSchema),
        metadata={"description": "partner-platform sales per platform (key: its code)"},
    )
    by_fair = f.List(f.Nested(BreakdownSchema), metadata={"description": "sales at each trade-fair booth"})
    charity = f.Nested(
        "CharityTotalsSchema",
        metadata={"description": "approved charity sales sold in the range: goods part and donations apart"},
    )
    producers_reached = f.Integer(required=True)
    products_reached = f.Integer(required=True)
    households_linked = f.Integer(required=True)
    targets = f.List(f.Nested(TargetProgressSchema), required=True)
    card_issued_fen = f.Integer(metadata={"description": "pickup-card value issued in the range (not aid)"})
    unredeemed_card_fen = f.Integer(
        metadata={"description": "what cards issued in the range still hold; counted only when it buys goods"}
    )
    expired_card_fen = f.Integer(metadata={"description": "what expired cards still held (never counted)"})
    as_of = f.DateTime(required=True)


class WorkUnitSchema(ma.Schema):
    id = f.Integer(required=True)
    name = f.String(required=True)
    email = f.String()
    invoice_title = f.String()
    tax_id = f.String()
    direct_purchase_fen = f.Integer(required=True)
    qualifying_fen = f.Integer(required=True)
    purchases = f.Integer(required=True)
    last_purchase_on = f.Date(allow_none=True)
    currency = f.String(required=True)


class WorkUnitPageSchema(PageSchema):
    items = f.List(f.Nested(WorkUnitSchema), required=True)


class OffshopLineInSchema(ma.Schema):
    sku = f.String(required=True, validate=v.Length(min=1, max=60))
    quantity = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=1_000_000))
    amount_fen = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=10**12))


class OffshopCreateSchema(ma.Schema):
    channel = f.String(required=True, validate=v.OneOf(OFFSHOP_CHANNELS))
    evidence_kind = f.String(required=True, validate=v.OneOf(EVIDENCE_KINDS))
    evidence_number = f.String(required=True, validate=v.Length(min=1, max=80))
    sold_on = f.Date(required=True)
    lines = f.List(f.Nested(OffshopLineInSchema), required=True, validate=v.Length(min=1, max=50))
    location = f.String(load_default=None, validate=v.Length(max=40))
    buyer_name = f.String(load_default="", validate=v.Length(max=200))
    work_unit_id = f.Integer(load_default=None, strict=True, validate=v.Range(min=1, max=2**31 - 1))
    note = f.String(load_default="", validate=v.Length(max=2000))


class ReasonSchema(ma.Schema):
    reason = f.String(required=True, validate=v.Length(min=1, max=500))


class OffshopArgs(PageArgs):
    status = f.String(validate=v.OneOf(OFFSHOP_STATUSES))


class OffshopLineSchema(ma.Schema):
    sku = f.String(required=True)
    product = f.String()
    quantity = f.Integer(required=True)
    amount_fen = f.Integer(required=True)


class OffshopSaleSchema(ma.Schema):
    id = f.Integer(required=True)
    status = f.String(required=True)
    channel = f.String(required=True)
    evidence_kind = f.String(required=True)
    evidence_number = f.String(required=True)
    producer = f.Dict()
    location = f.String(allow_none=True)
    sold_on = f.Date(required=True)
    amount_fen = f.Integer(required=True)
    currency = f.String(required=True)
    buyer_name = f.String()
    work_unit_id = f.Integer(allow_none=True)
    note = f.String()
    lines = f.List(f.Nested(OffshopLineSchema))
    recorded_by = f.String()
    recorded_at = f.DateTime()
    decided_by = f.String(allow_none=True)
    decided_at = f.DateTime(allow_none=True)
    decision_reason = f.String()
    voided_by = f.String(allow_none=True)
    voided_at = f.DateTime(allow_none=True)
    void_reason = f.String()


class OffshopPageSchema(PageSchema):
    items = f.List(f.Nested(OffshopSaleSchema), required=True)


class RunSchema(ma.Schema):
    id = f.Integer(required=True)
    started_at = f.DateTime(required=True)
    finished_at = f.DateTime(allow_none=True)
    trigger = f.String()
    repair = f.Boolean()
    status = f.String(required=True)
    entries_checked = f.Integer()
    rollups_checked = f.Integer()
    checkers = f.List(f.String())
    difference_count = f.Integer()
    differences = f.List(f.Dict())
    error = f.String()


class RunPageSchema(ma.Schema):
    items = f.List(f.Nested(RunSchema), required=True)


# Presenters: plain dicts the schemas above describe.


def programme_dict(prog: AidProgramme) -> dict:
    targets = []
    for t in prog.targets:
        if t.channel is not None:
            targets.append({"kind": "channel", "key": t.channel, "target_fen": t.target_fen})
        elif t.township is not None:
            targets.append({"kind": "township", "key": t.township, "target_fen": t.target_fen})
        else:
            loc = db.session.get(Location, t.location_id)
            targets.append({"kind": "location", "key": loc.code, "target_fen": t.target_fen})
    return {
        "code": prog.code,
        "name": prog.name_zh,
        "name_en": prog.name_en,
        "starts_on": prog.starts_on,
        "ends_on": prog.ends_on,
        "target_fen": prog.target_fen,
        "currency": "CNY",
        "targets": targets,
        "note": prog.note,
    }


def offshop_dict(sale: OffshopSale) -> dict:
    def email(user_id: int | None) -> str | None:
        user = db.session.get(User, user_id) if user_id else None
        return user.email if user else None

    producer = db.session.get(Producer, sale.producer_id)
    location = db.session.get(Location, sale.location_id) if sale.location_id else None
    lines = []
    for line in sale.lines:
        variant = db.session.get(Variant, line.variant_id)
        lines.append(
            {
                "sku": variant.sku,
                "product": variant.name_zh,
                "quantity": line.quantity,
                "amount_fen": line.amount_fen,
            }
        )
    return {
        "id": sale.id,
        "status": sale.status,
        "channel": sale.channel,
        "evidence_kind": sale.evidence_kind,
        "evidence_number": sale.evidence_number,
        "producer": {"id": producer.id, "code": producer.code, "name": producer.name_zh},
        "location": location.code if location else None,
        "sold_on": sale.sold_on,
        "amount_fen": sale.amount_fen,
        "currency": "CNY",
        "buyer_name": sale.buyer_name,
        "work_unit_id": sale.work_unit_id,
        "note": sale.note,
        "lines": lines,
        "recorded_by": email(sale.recorded_by_id),
        "recorded_at": sale.recorded_at,
        "decided_by": email(sale.decided_by_id),
        "decided_at": sale.decided_at,
        "decision_reason": sale.decision_reason,
        "voided_by": email(sale.voided_by_id),
        "voided_at": sale.voided_at,
        "void_reason": sale.void_reason,
    }


# -- partner platforms and their sales imports ------------------------------------------------------


class PlatformSchema(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    operator = f.String()
    contact = f.String()
    producers = f.List(f.String(), metadata={"description": "producer codes it sells for (empty: any)"})
    active = f.Boolean()
    has_api_key = f.Boolean()


class PlatformListSchema(ma.Schema):
    items = f.List(f.Nested(PlatformSchema), required=True)


class PlatformCreateSchema(ma.Schema):
    code = f.String(required=True, validate=CODE)
    name = f.String(required=True, validate=v.Length(min=1, max=160))
    name_en = f.String(load_default="", validate=v.Length(max=200))
    operator = f.String(load_default="", validate=v.Length(max=200))
    contact = f.String(load_default="", validate=v.Length(max=200))
    producers = f.List(
        f.String(validate=v.Length(min=1, max=40)), load_default=list, validate=v.Length(max=500)
    )


class PlatformKeySchema(ma.Schema):
    code = f.String(required=True)
    api_key = f.String(required=True, metadata={"description": "shown once; send it as X-Platform-Key"})


class ImportFormSchema(ma.Schema):
    platform = f.String(required=True, validate=CODE, metadata={"description": "the platform's code"})


class RejectedRowSchema(ma.Schema):
    row = f.Integer(required=True)
    reason = f.String(required=True)


class ImportSchema(ma.Schema):
    id = f.Integer(required=True)
    platform = f.String()
    kind = f.String(metadata={"description": "csv, xlsx or api"})
    filename = f.String()
    status = f.String(required=True, metadata={"description": "queued, running, done or failed"})
    rows = f.Integer(required=True, metadata={"description": "data rows processed so far"})
    accepted = f.Integer(required=True)
    duplicates = f.Integer(required=True)
    rejected = f.List(f.Nested(RejectedRowSchema), required=True, metadata={"description": "the first 1000"})
    rejected_count = f.Integer()
    accepted_fen = f.Integer()
    currency = f.String()
    error = f.String()
    created_at = f.DateTime()
    started_at = f.DateTime(allow_none=True)
    finished_at = f.DateTime(allow_none=True)
    uploaded_by = f.Integer(allow_none=True)
    voided = f.Boolean()
    voided_at = f.DateTime(allow_none=True)
    void_reason = f.String()


class ImportPageSchema(PageSchema):
    items = f.List(f.Nested(ImportSchema), required=True)


class ImportArgs(PageArgs):
    platform = f.String(validate=CODE)


class PushRowSchema(ma.Schema):
    platform_order_id = f.Raw(required=True)
    line = f.Raw(required=True)
    sold_on = f.Raw(required=True)
    sku = f.Raw(required=True)
    quantity = f.Raw(required=True)
    amount_fen = f.Raw(required=True)


class PushSchema(ma.Schema):
    rows = f.List(f.Nested(PushRowSchema), required=True, validate=v.Length(min=1, max=1000))


def platform_dict(p) -> dict:
    return {
        "code": p.code,
        "name": p.name_zh,
        "name_en": p.name_en,
        "operator": p.operator,
        "contact": p.contact,
        "producers": _producer_codes(p),
        "active": p.active,
        "has_api_key": p.api_key_hash is not None,
    }


def _producer_codes(p) -> list[str]:
    ids = [link.producer_id for link in p.producer_links]
    if not ids:
        return []
    return sorted(db.session.scalars(select(Producer.code).where(Producer.id.in_(ids))))


# -- charity sales (义卖) ------------------------------------------------------------------------------


class CharityTotalsSchema(ma.Schema):
    sales_fen = f.Integer(required=True, metadata={"description": "goods part (amount - donated), counted"})
    donated_fen = f.Integer(required=True, metadata={"description": "donations: never in the goods totals"})
    count = f.Integer(required=True)


class CharityCreateSchema(ma.Schema):
    item = f.String(required=True, validate=v.Length(min=1, max=200))
    amount_fen = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=10**12))
    donated_fen = f.Integer(
        required=True,
        strict=True,
        validate=v.Range(min=0, max=10**12),
        metadata={"description": "the part of amount_fen that is a donation, not a purchase of goods"},
    )
    producer = f.String(
        load_default=None, validate=v.Length(max=60), metadata={"description": "producer code it benefits"}
    )
    cause = f.String(load_default="", validate=v.Length(max=200), metadata={"description": "or the cause"})
    sold_on = f.Date(required=True)
    evidence = f.String(
        required=True, validate=v.Length(min=1, max=80), metadata={"description": "receipt/invoice number"}
    )
    evidence_kind = f.String(load_default="receipt", validate=v.OneOf(EVIDENCE_KINDS))
    buyer = f.String(
        load_default="", validate=v.Length(max=200), metadata={"description": "a unit or a person"}
    )
    note = f.String(load_default="", validate=v.Length(max=2000))

    @ma.validates_schema
    def _donation_within_amount(self, data: dict, **_kw) -> None:
        amount, donated = data.get("amount_fen"), data.get("donated_fen")
        if isinstance(amount, int) and isinstance(donated, int) and donated > amount:
            raise ma.ValidationError("at most amount_fen", field_name="donated_fen")


class CharityArgs(PageArgs):
    status = f.String(validate=v.OneOf(CHARITY_STATUSES))


class CharitySaleSchema(ma.Schema):
    id = f.Integer(required=True)
    status = f.String(required=True)
    channel = f.String(required=True)
    item = f.String(required=True)
    buyer = f.String()
    amount_fen = f.Integer(required=True)
    donated_fen = f.Integer(required=True)
    goods_fen = f.Integer(required=True, metadata={"description": "amount - donated: what the ledger counts"})
    currency = f.String(required=True)
    producer = f.Dict(allow_none=True)
    cause = f.String()
    sold_on = f.Date(required=True)
    evidence = f.String(required=True)
    evidence_kind = f.String(required=True)
    note = f.String()
    recorded_by = f.String()
    recorded_at = f.DateTime()
    decided_by = f.String(allow_none=True)
    decided_at = f.DateTime(allow_none=True)
    decision_reason = f.String()
    voided_by = f.String(allow_none=True)
    voided_at = f.DateTime(allow_none=True)
    void_reason = f.String()


class CharityPageSchema(PageSchema):
    items = f.List(f.Nested(CharitySaleSchema), required=True)


def charity_dict(sale: CharitySale) -> dict:
    def email(user_id: int | None) -> str | None:
        user = db.session.get(User, user_id) if user_id else None
        return user.email if user else None

    producer = db.session.get(Producer, sale.producer_id) if sale.producer_id else None
    return {
        "id": sale.id,
        "status": sale.status,
        "channel": "charity",
        "item": sale.item,
        "buyer": sale.buyer,
        "amount_fen": sale.amount_fen,
        "donated_fen": sale.donated_fen,
        "goods_fen": sale.goods_fen,
        "currency": "CNY",
        "producer": {"id": producer.id, "code": producer.code, "name": producer.name_zh}
        if producer
        else None,
        "cause": sale.cause,
        "sold_on": sale.sold_on,
        "evidence": sale.evidence_number,
        "evidence_kind": sale.evidence_kind,
        "note": sale.note,
        "recorded_by": email(sale.recorded_by_id),
        "recorded_at": sale.recorded_at,
        "decided_by": email(sale.decided_by_id),
        "decided_at": sale.decided_at,
        "decision_reason": sale.decision_reason,
        "voided_by": email(sale.voided_by_id),
        "voided_at": sale.voided_at,
        "void_reason": sale.void_reason,
    }
