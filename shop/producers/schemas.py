"""Settlement, fee and household schemas (the OpenAPI document is generated from these) and presenters."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.catalog.models import Producer
from shop.core.api import PageArgs, PageSchema
from shop.core.db import db
from shop.producers.models import (
    INCOME_KINDS,
    Household,
    HouseholdIncome,
    ProducerFee,
    Statement,
    StatementLine,
)
from shop.producers.settlement import statement_lines

PERIOD = {"validate": v.Regexp(r"^\d{4}-\d{2}$"), "metadata": {"description": "a Beijing month, YYYY-MM"}}


class SettlementRunIn(ma.Schema):
    period = f.String(required=True, **PERIOD)


class PayoutIn(ma.Schema):
    reference = f.String(
        required=True, validate=v.Length(min=1, max=80), metadata={"description": "the bank's reference"}
    )


class SettlementLineOut(ma.Schema):
    key = f.String(required=True)
    kind = f.String(required=True, metadata={"description": "sale or refund (negative)"})
    channel = f.String(required=True, metadata={"description": "online, hall, preorder, card, work_unit"})
    reference = f.String(required=True, metadata={"description": "order number or hall/sale id"})
    sku = f.String(required=True)
    name = f.String(required=True)
    quantity = f.Integer(required=True)
    amount_fen = f.Integer(required=True)
    fee_bp = f.Integer(required=True)
    fee_fen = f.Integer(required=True)
    occurred_at = f.DateTime(required=True)


class SettlementStatementOut(ma.Schema):
    producer = f.String(required=True, metadata={"description": "the producer's code"})
    producer_name = f.String(required=True)
    period = f.String(required=True)
    status = f.String(required=True, metadata={"description": "draft, approved or paid"})
    gross_fen = f.Integer(required=True)
    refunds_fen = f.Integer(required=True)
    fee_fen = f.Integer(required=True)
    payable_fen = f.Integer(required=True)
    currency = f.String(required=True)
    line_count = f.Integer(required=True)
    paid_reference = f.String(allow_none=True)
    approved_at = f.DateTime(allow_none=True)
    paid_at = f.DateTime(allow_none=True)
    lines = f.List(f.Nested(SettlementLineOut))


class SettlementOut(ma.Schema):
    period = f.String(required=True)
    statements = f.List(f.Nested(SettlementStatementOut), required=True)


class SettlementStatementPage(PageSchema):
    items = f.List(f.Nested(SettlementStatementOut), required=True)


class FeeIn(ma.Schema):
    fee_bp = f.Integer(required=True, strict=True, validate=v.Range(min=0, max=10_000))
    effective_from = f.Date(metadata={"description": "the first Beijing day it applies (today if left out)"})


class FeeOut(ma.Schema):
    fee_bp = f.Integer(required=True)
    effective_from = f.Date(required=True)
    effective_at = f.DateTime(required=True)
    set_at = f.DateTime(required=True)


class FeeListOut(ma.Schema):
    producer = f.String(required=True)
    current_fee_bp = f.Integer(required=True)
    items = f.List(f.Nested(FeeOut), required=True)


class HouseholdIn(ma.Schema):
    ref = f.String(
        required=True,
        validate=v.Length(min=1, max=40),
        metadata={"description": "the producer's pseudonymous code for the household; never a name or ID"},
    )
    village = f.String(required=True, validate=v.Length(min=1, max=60))
    members = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=30))
    township = f.String(
        validate=v.Length(min=1, max=60), metadata={"description": "the producer's if left out"}
    )


class HouseholdOut(ma.Schema):
    ref = f.String(required=True)
    producer = f.String(required=True)
    village = f.String(required=True)
    township = f.String(required=True)
    members = f.Integer(required=True)
    created_at = f.DateTime(required=True)


class HouseholdPage(PageSchema):
    items = f.List(f.Nested(HouseholdOut), required=True)


class IncomeIn(ma.Schema):
    household = f.String(required=True, validate=v.Length(min=1, max=40), metadata={"description": "its ref"})
    kind = f.String(required=True, validate=v.OneOf(INCOME_KINDS))
    amount_fen = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=2**31 - 1))
    on = f.Date(required=True, metadata={"description": "the day it was paid (not in the future)"})


class IncomeOut(ma.Schema):
    id = f.Integer(required=True)
    household = f.String(required=True)
    producer = f.String(required=True)
    kind = f.String(required=True)
    amount_fen = f.Integer(required=True)
    currency = f.String(required=True)
    on = f.Date(required=True)


class TownshipRow(ma.Schema):
    township = f.String(required=True)
    households = f.Integer(required=True)
    people = f.Integer(required=True)
    income_fen = f.Integer(required=True)


class ProducerClaim(ma.Schema):
    producer = f.String(required=True)
    name = f.String(required=True)
    claimed_households = f.Integer(required=True)
    registered_households = f.Integer(required=True)
    households_with_income = f.Integer(required=True)
    backed = f.Boolean(required=True)


class ProgrammeHouseholdsOut(ma.Schema):
    programme = f.String(required=True)
    households = f.Integer(required=True)
    people = f.Integer(required=True)
    income_fen = f.Integer(required=True)
    currency = f.String(required=True)
    by_kind = f.Dict(keys=f.String(), values=f.Integer(), required=True)
    by_township = f.List(f.Nested(TownshipRow), required=True)
    producers = f.List(f.Nested(ProducerClaim), required=True)


class StatementListArgs(PageArgs):
    pass


def line_dict(line: StatementLine) -> dict:
    return {
        "key": line.source_key,
        "kind": line.kind,
        "channel": line.channel,
        "reference": line.reference,
        "sku": line.sku,
        "name": line.name_zh,
        "quantity": line.quantity,
        "amount_fen": line.amount_fen,
        "fee_bp": line.fee_bp,
        "fee_fen": line.fee_fen,
        "occurred_at": line.occurred_at,
    }


def statement_dict(statement: Statement, *, with_lines: bool = True) -> dict:
    producer = db.session.get(Producer, statement.producer_id)
    out = {
        "producer": producer.code,
        "producer_name": producer.name_zh,
        "period": statement.period,
        "status": statement.status,
        "gross_fen": statement.gross_fen,
        "refunds_fen": statement.refunds_fen,
        "fee_fen": statement.fee_fen,
        "payable_fen": statement.payable_fen,
        "currency": "CNY",
        "line_count": statement.line_count,
        "paid_reference": statement.paid_reference,
        "approved_at": statement.approved_at,
        "paid_at": statement.paid_at,
    }
    if with_lines:
        out["lines"] = [line_dict(ln) for ln in statement_lines(statement)]
    return out


def fee_dict(fee: ProducerFee) -> dict:
    return {
        "fee_bp": fee.fee_bp,
        "effective_from": fee.effective_from,
        "effective_at": fee.effective_at,
        "set_at": fee.set_at,
    }


def household_dict(household: Household) -> dict:
    return {
        "ref": household.ref,
        "producer": db.session.get(Producer, household.producer_id).code,
        "village": household.village,
        "township": household.township,
        "members": household.members,
        "created_at": household.created_at,
    }


def income_dict(income: HouseholdIncome) -> dict:
    return {
        "id": income.id,
        "household": income.household.ref,
        "producer": db.session.get(Producer, income.producer_id).code,
        "kind": income.kind,
        "amount_fen": income.amount_fen,
        "currency": "CNY",
        "on": income.on_day,
    }
