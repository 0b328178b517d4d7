"""Shapes of the hall tablet's snapshot (API and console) and of its queue replay."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f


class SnapshotItem(ma.Schema):
    sku = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String(required=True)
    unit = f.String(required=True)
    unit_en = f.String(required=True)
    price_fen = f.Integer(required=True)
    available = f.Integer(required=True, metadata={"description": "units the hall can sell now"})
    on_hand = f.Integer(required=True)


class SnapshotSaleLine(ma.Schema):
    sku = f.String(required=True)
    quantity = f.Integer(required=True)


class SnapshotSale(ma.Schema):
    id = f.Integer(required=True)
    client_sale_id = f.String(required=True)
    paid_with = f.String(required=True)
    total_fen = f.Integer(required=True)
    made_at = f.String(required=True, metadata={"description": "ISO 8601 with zone"})
    lines = f.List(f.Nested(SnapshotSaleLine), required=True)


class SnapshotSchema(ma.Schema):
    location = f.String(required=True)
    name = f.String(required=True)
    name_en = f.String(required=True)
    as_of = f.String(
        required=True, metadata={"description": "when the server read this (ISO 8601 with zone)"}
    )
    day = f.String(required=True, metadata={"description": "today's business date in Beijing time"})
    currency = f.String(required=True)
    pay_methods = f.List(f.String(), required=True)
    items = f.List(f.Nested(SnapshotItem), required=True)
    sales_today = f.List(f.Nested(SnapshotSale), required=True)
