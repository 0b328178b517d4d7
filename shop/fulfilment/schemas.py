"""Fulfilment request and response schemas (they also generate the OpenAPI document)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.core.api import PageArgs, PageSchema
from shop.fulfilment.models import COURIERS
from shop.fulfilment.queries import SECTIONS


class SectionArgs(PageArgs):
    section = f.String(load_default="to_ship", validate=v.OneOf(SECTIONS))


class ShipIn(ma.Schema):
    courier = f.String(required=True, validate=v.OneOf(COURIERS))
    tracking_number = f.String(required=True, validate=v.Regexp(r"^[A-Za-z0-9-]{6,40}$"))
    courier_note = f.String(load_default="", validate=v.Length(max=60))


class HandoverIn(ma.Schema):
    code = f.String(required=True, validate=v.Regexp(r"^\d{6}$", error="six digits"))


class PickOut(ma.Schema):
    lot = f.String(required=True)
    best_before = f.Date(allow_none=True)
    quantity = f.Integer(required=True)


class PickLineOut(ma.Schema):
    sku = f.String(required=True)
    name = f.String()
    name_en = f.String()
    quantity = f.Integer(required=True)
    refunded_quantity = f.Integer()
    to_hand_over = f.Integer(required=True)
    picks = f.List(f.Nested(PickOut), required=True)


class ShipmentOut(ma.Schema):
    status = f.String(required=True)
    courier = f.String(allow_none=True)
    courier_note = f.String()
    tracking_number = f.String(allow_none=True)
    shipped_at = f.DateTime(allow_none=True)
    delivered_at = f.DateTime(allow_none=True)


class PickupOut(ma.Schema):
    status = f.String(required=True)
    location = f.String(required=True)
    ready_at = f.DateTime()
    handed_over_at = f.DateTime(allow_none=True)


class FulfilmentOrderOut(ma.Schema):
    id = f.Integer(required=True)
    number = f.String(required=True)
    status = f.String(required=True)
    delivery_type = f.String(required=True)
    location = f.String(required=True)
    paid_at = f.DateTime(allow_none=True)
    total_fen = f.Integer(required=True)
    currency = f.String(required=True)
    recipient = f.Dict(allow_none=True)
    lines = f.List(f.Nested(PickLineOut), required=True)
    shipment = f.Nested(ShipmentOut, allow_none=True)
    pickup = f.Nested(PickupOut, allow_none=True)
    needs_attention = f.Boolean()
    attention_note = f.String()


class SectionPage(PageSchema):
    section = f.String(required=True)
    items = f.List(f.Nested(FulfilmentOrderOut), required=True)
    counts = f.Dict(keys=f.String(), values=f.Integer())


class TotalPickOut(ma.Schema):
    sku = f.String(required=True)
    name = f.String()
    name_en = f.String()
    lot = f.String(required=True)
    best_before = f.Date(allow_none=True)
    quantity = f.Integer(required=True)
    orders = f.Integer(required=True)


class HallPickListOut(ma.Schema):
    location = f.String(required=True)
    items = f.List(f.Nested(TotalPickOut), required=True)


# Presenters: plain dicts the schemas above describe.


def fulfilment_order_dict(item) -> dict:
    """An order as the hall sees it: pick list by lot, parcel or pickup (never the buyer's code)."""
    order = item.order
    recipient = None
    if order.delivery_type == "ship":
        recipient = {
            "name": order.recipient,
            "phone": order.phone,
            "address": f"{order.city}{order.district}{order.street_address}",
            "note": order.delivery_note,
        }
    shipment = item.shipment
    ticket = item.ticket
    return {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        "delivery_type": order.delivery_type,
        "location": order.location.code,
        "paid_at": order.paid_at,
        "total_fen": order.total_fen,
        "currency": order.currency,
        "recipient": recipient,
        "lines": [
            {
                "sku": line.sku,
                "name": line.name_zh,
                "name_en": line.name_en,
                "quantity": line.quantity,
                "refunded_quantity": line.refunded,
                "to_hand_over": line.to_hand_over,
                "picks": [
                    {"lot": p.lot_code, "best_before": p.best_before, "quantity": p.quantity}
                    for p in line.picks
                ],
            }
            for line in item.lines
        ],
        "shipment": None
        if shipment is None
        else {
            "status": shipment.status,
            "courier": shipment.courier or None,
            "courier_note": shipment.courier_note,
            "tracking_number": shipment.tracking_number or None,
            "shipped_at": shipment.shipped_at,
            "delivered_at": shipment.delivered_at,
        },
        "pickup": None
        if ticket is None
        else {
            "status": ticket.status,
            "location": (order.pickup_location or order.location).code,
            "ready_at": ticket.created_at,
            "handed_over_at": ticket.handed_over_at,
        },
        "needs_attention": order.needs_attention,
        "attention_note": order.attention_note,
    }


def total_pick_dict(t) -> dict:
    return {
        "sku": t.sku,
        "name": t.name_zh,
        "name_en": t.name_en,
        "lot": t.lot_code,
        "best_before": t.best_before,
        "quantity": t.quantity,
        "orders": t.orders,
    }
