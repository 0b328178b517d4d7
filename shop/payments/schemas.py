"""Payment and refund request/response schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.orders.services import MAX_QUANTITY
from shop.payments.services import MANUAL_METHODS


class ManualPaymentIn(ma.Schema):
    method = f.String(required=True, validate=v.OneOf(MANUAL_METHODS))
    amount_fen = f.Integer(strict=True, validate=v.Range(min=1, max=2**31 - 1))
    reference = f.String(load_default="", validate=v.Length(max=200))


class IntentOut(ma.Schema):
    gateway = f.String(required=True)
    payment_intent = f.String(required=True)
    client_secret = f.String(required=True)
    publishable_key = f.String()
    amount_fen = f.Integer(required=True)
    currency = f.String(required=True)


class RefundLineIn(ma.Schema):
    sku = f.String(required=True, validate=v.Length(min=1, max=60))
    quantity = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=MAX_QUANTITY))


class RefundIn(ma.Schema):
    amount_fen = f.Integer(strict=True, validate=v.Range(min=1, max=2**31 - 1))
    lines = f.List(f.Nested(RefundLineIn), validate=v.Length(min=1, max=50))
    reason = f.String(required=True, validate=v.Length(min=1, max=200))
    restock_location = f.String(
        validate=v.Length(min=1, max=40),
        metadata={"description": "the goods came back to this location: put them back in stock"},
    )


class RefundCreatedOut(ma.Schema):
    refund = f.Dict(required=True)
    order = f.Dict(required=True)


class WebhookOut(ma.Schema):
    received = f.Boolean(required=True)
    duplicate = f.Boolean(required=True)
    event_id = f.String(required=True)
    outcome = f.String()
