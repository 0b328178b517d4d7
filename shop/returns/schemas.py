"""Refund request schemas (the OpenAPI document is generated from these) and their presenter."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.core.api import PageArgs, PageSchema
from shop.orders.services import MAX_QUANTITY
from shop.returns.models import REASONS, STATES


class RequestLineIn(ma.Schema):
    sku = f.String(required=True, validate=v.Length(min=1, max=60))
    quantity = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=MAX_QUANTITY))


class RefundRequestIn(ma.Schema):
    reason = f.String(
        required=True,
        validate=v.OneOf(REASONS),
        metadata={"description": "cancel (before hand-over, the whole order), damaged, wrong_item, other"},
    )
    note = f.String(load_default="", validate=v.Length(max=500))
    lines = f.List(
        f.Nested(RequestLineIn),
        validate=v.Length(min=1, max=50),
        metadata={"description": "some goods only; leave out for everything still refundable"},
    )


class ApproveIn(ma.Schema):
    amount_fen = f.Integer(
        strict=True,
        validate=v.Range(min=1, max=2**31 - 1),
        metadata={"description": "less than the request's goods are worth (a goodwill share)"},
    )
    restock_location = f.String(
        validate=v.Length(min=1, max=40),
        metadata={"description": "the goods came back to this location after hand-over: put them back"},
    )
    note = f.String(load_default="", validate=v.Length(max=500))


class RejectIn(ma.Schema):
    reason = f.String(required=True, validate=v.Length(min=1, max=500))


class RequestListArgs(PageArgs):
    status = f.String(validate=v.OneOf(STATES))
    order_id = f.Integer(validate=v.Range(min=1, max=2**31 - 1))


class RefundRequestOut(ma.Schema):
    id = f.Integer(required=True)
    order_id = f.Integer(required=True)
    order_number = f.String(required=True)
    location = f.String(required=True)
    reason = f.String(required=True)
    note = f.String()
    lines = f.List(f.Dict())
    status = f.String(required=True)
    created_at = f.DateTime(required=True)
    decided_at = f.DateTime(allow_none=True)
    decision_note = f.String()
    refund_id = f.Integer(allow_none=True)


class RefundRequestPage(PageSchema):
    items = f.List(f.Nested(RefundRequestOut), required=True)


class DecisionOut(ma.Schema):
    refund_request = f.Nested(RefundRequestOut, required=True)
    refund = f.Dict(allow_none=True)
    order = f.Dict(required=True)


def request_dict(request, order) -> dict:
    return {
        "id": request.id,
        "order_id": request.order_id,
        "order_number": order.number,
        "location": order.location.code,
        "reason": request.reason,
        "note": request.note,
        "lines": request.lines,
        "status": request.status,
        "created_at": request.created_at,
        "decided_at": request.decided_at,
        "decision_note": request.decision_note,
        "refund_id": request.refund_id,
    }
