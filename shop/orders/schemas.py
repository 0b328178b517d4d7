"""Order request and response schemas (they also generate the OpenAPI document).

Request schemas reject unknown fields (marshmallow's default), so a client cannot send ``price_fen`` or
any other field the shop decides itself: prices always come from the catalogue.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v
from marshmallow import validates_schema

from shop.core import clock
from shop.core.api import PageArgs, PageSchema
from shop.orders.models import STATUSES
from shop.orders.services import MAX_LINES, MAX_QUANTITY, TIANJIN_DISTRICTS


class LineIn(ma.Schema):
    sku = f.String(required=True, validate=v.Length(min=1, max=60))
    quantity = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=MAX_QUANTITY))


class AddressIn(ma.Schema):
    recipient = f.String(required=True, validate=v.Length(min=1, max=60))
    phone = f.String(
        required=True,
        validate=v.Regexp(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$", error="a mainland mobile or landline number"),
    )
    city = f.String(load_default="天津市", validate=v.OneOf(["天津市", "天津", "Tianjin"]))
    district = f.String(required=True, validate=v.OneOf(TIANJIN_DISTRICTS))
    street_address = f.String(required=True, validate=v.Length(min=4, max=200))


class DeliveryIn(ma.Schema):
    type = f.String(required=True, validate=v.OneOf(["ship", "pickup"]))
    address = f.Nested(AddressIn)
    location = f.String(validate=v.Length(min=1, max=40))
    note = f.String(load_default="", validate=v.Length(max=200))

    @validates_schema
    def _one_kind(self, data, **_kw):
        if data.get("type") == "ship" and "address" not in data:
            raise ma.ValidationError("required for delivery", "address")
        if data.get("type") == "pickup" and "location" not in data:
            raise ma.ValidationError("required for pickup (a hall code)", "location")


class OrderIn(ma.Schema):
    lines = f.List(f.Nested(LineIn), required=True, validate=v.Length(min=1, max=MAX_LINES))
    delivery = f.Nested(DeliveryIn, required=True)


class OrderListArgs(PageArgs):
    status = f.String(validate=v.OneOf(STATUSES))
    attention = f.Boolean()
    all = f.Boolean(load_default=False, metadata={"description": "staff: every order they may see"})


class CancelIn(ma.Schema):
    reason = f.String(load_default="", validate=v.Length(max=200))


class ProducerOut(ma.Schema):
    id = f.Integer()
    name = f.String()
    name_en = f.String()
    certificate_number = f.String(allow_none=True)


class LineOut(ma.Schema):
    sku = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String()
    unit = f.String()
    producer = f.Nested(ProducerOut)
    unit_price_fen = f.Integer(required=True)
    quantity = f.Integer(required=True)
    line_total_fen = f.Integer(required=True)
    refunded_quantity = f.Integer()
    refunded_fen = f.Integer()
    currency = f.String()


class DeliveryOut(ma.Schema):
    type = f.String(required=True)
    location = f.Dict(allow_none=True)
    address = f.Dict(allow_none=True)
    note = f.String()


class RefundOut(ma.Schema):
    id = f.Integer(required=True)
    amount_fen = f.Integer(required=True)
    currency = f.String()
    status = f.String(required=True)
    reason = f.String()
    lines = f.List(f.Dict())
    automatic = f.Boolean()
    created_at = f.DateTime()


class OrderOut(ma.Schema):
    id = f.Integer(required=True)
    number = f.String(required=True)
    status = f.String(required=True)
    subtotal_fen = f.Integer(required=True)
    shipping_fen = f.Integer(required=True)
    total_fen = f.Integer(required=True)
    paid_fen = f.Integer()
    refunded_fen = f.Integer()
    currency = f.String(required=True)
    reserved_until = f.DateTime(required=True)
    created_at = f.DateTime()
    paid_at = f.DateTime(allow_none=True)
    fulfilment_location = f.String()
    delivery = f.Nested(DeliveryOut)
    buyer = f.Dict()
    lines = f.List(f.Nested(LineOut))
    payment = f.Dict(required=True)
    refunds = f.List(f.Nested(RefundOut))
    needs_attention = f.Boolean()
    attention_note = f.String()
    # The pickup code (buyer only) and status, or the parcel's courier and tracking number; null before.
    fulfilment = f.Dict(allow_none=True)


class OrderPage(PageSchema):
    items = f.List(f.Nested(OrderOut), required=True)


# Presenters: plain dicts the schemas above describe.


def location_brief(loc) -> dict | None:
    if loc is None:
        return None
    return {
        "code": loc.code,
        "name": loc.name_zh,
        "name_en": loc.name_en,
        "address": loc.address,
        "opening_hours": loc.opening_hours,
    }


def payment_dict(order) -> dict:
    from flask import current_app

    from shop.payments.models import Payment
    from shop.payments.services import open_intent

    counted = None
    if order.paid_at is not None:
        from sqlalchemy import select

        from shop.core.db import db

        counted = db.session.scalar(
            select(Payment)
            .where(Payment.order_id == order.id, Payment.status == "succeeded")
            .order_by(Payment.succeeded_at, Payment.id)
            .limit(1)
        )
    out: dict = {
        "gateway": order.gateway,
        "status": "succeeded" if counted else ("awaiting" if order.status == "pending_payment" else "none"),
        "pay_by": clock.aware(order.reserved_until).isoformat()
        if order.status == "pending_payment"
        else None,
    }
    if counted is not None:
        out["method"] = counted.method
        out["reference"] = counted.provider_ref
    if order.gateway == "manual":
        out["instructions"] = (
            "Pay at the pickup hall, or by bank transfer quoting the order number"
            if order.delivery_type == "pickup"
            else "Pay by bank transfer quoting the order number"
        )
    else:
        settings = current_app.extensions["settings"]
        out["intent_url"] = f"/api/v1/orders/{order.id}/payments/stripe"
        out["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        intent = open_intent(order) if order.status == "pending_payment" else None
        out["intent"] = intent.provider_ref if intent else None
    return out


def refund_dict(refund) -> dict:
    return {
        "id": refund.id,
        "amount_fen": refund.amount_fen,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
        "lines": refund.lines,
        "automatic": refund.automatic,
        "created_at": refund.created_at,
    }


def order_dict(order, *, staff: bool = False) -> dict:
    from sqlalchemy import select

    from shop.core.db import db
    from shop.fulfilment.queries import fulfilment_of
    from shop.payments.models import Refund

    # Only a paid order can have refunds: a new order's answer needs no look.
    refunds = (
        []
        if order.status == "pending_payment"
        else db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    )
    delivery: dict = {
        "type": order.delivery_type,
        "note": order.delivery_note,
        "location": None,
        "address": None,
    }
    if order.delivery_type == "pickup":
        delivery["location"] = location_brief(order.pickup_location)
    else:
        delivery["address"] = {
            "recipient": order.recipient,
            "phone": order.phone,
            "city": order.city,
            "district": order.district,
            "street_address": order.street_address,
        }
    out = {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        "subtotal_fen": order.subtotal_fen,
        "shipping_fen": order.shipping_fen,
        "total_fen": order.total_fen,
        "paid_fen": order.paid_fen,
        "refunded_fen": order.refunded_fen,
        "currency": order.currency,
        "reserved_until": order.reserved_until,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "fulfilment_location": order.location.code,
        "delivery": delivery,
        "buyer": {
            "kind": order.buyer_kind,
            "invoice_title": order.invoice_title,
            "tax_id": order.tax_id,
        },
        "lines": [
            {
                "sku": line.sku,
                "name": line.name_zh,
                "name_en": line.name_en,
                "unit": line.unit_zh,
                "producer": {
                    "id": line.producer_id,
                    "name": line.producer_name_zh,
                    "name_en": line.producer_name_en,
                    "certificate_number": line.certificate_number,
                },
                "unit_price_fen": line.unit_price_fen,
                "quantity": line.quantity,
                "line_total_fen": line.line_total_fen,
                "refunded_quantity": line.refunded_quantity,
                "refunded_fen": line.refunded_fen,
                "currency": "CNY",
            }
            for line in order.lines
        ],
        "payment": payment_dict(order),
        "refunds": [refund_dict(r) for r in refunds],
        "fulfilment": fulfilment_of(order),
    }
    if staff and out["fulfilment"] and out["fulfilment"]["kind"] == "pickup":
        # The code is the buyer's proof at the counter: staff never see it.
        out["fulfilment"].pop("code", None)
    if staff:
        out["needs_attention"] = order.needs_attention
        out["attention_note"] = order.attention_note
    return out
