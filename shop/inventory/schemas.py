"""Inventory request and response schemas (they also generate the OpenAPI document), and presenters."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.core.api import PageArgs, PageSchema
from shop.inventory.adjustments import ADJUSTMENT_REASONS, REASON_ALIASES
from shop.inventory.models import (
    MOVEMENT_KINDS,
    PAYMENT_METHODS,
    CounterSale,
    Lot,
    StockCount,
    StockMovement,
    Transfer,
)
from shop.inventory.queries import StockRow, effective_threshold, is_expired
from shop.inventory.services import MAX_QUANTITY


def Quantity(**kw) -> f.Integer:
    return f.Integer(strict=True, validate=v.Range(min=1, max=MAX_QUANTITY), **kw)


def Sku(**kw) -> f.String:
    return f.String(validate=v.Length(min=1, max=60), **kw)


def LotCode(**kw) -> f.String:
    return f.String(validate=v.Length(min=1, max=40), **kw)


def Note() -> f.String:
    return f.String(load_default="", validate=v.Length(max=500))


# -- requests --------------------------------------------------------------------------------------


class StockArgs(PageArgs):
    per_page = f.Integer(load_default=100, validate=v.Range(min=1, max=100))
    sku = Sku()


class ReceiptLineSchema(ma.Schema):
    sku = Sku(required=True)
    quantity = Quantity(required=True)
    lot = LotCode()
    harvested_on = f.Date()
    best_before = f.Date()


class ReceiptSchema(ma.Schema):
    lines = f.List(f.Nested(ReceiptLineSchema), required=True, validate=v.Length(min=1, max=200))
    consignment = f.String(
        validate=v.Length(min=1, max=20), metadata={"description": "transfer id or number"}
    )
    reference = f.String(load_default="", validate=v.Length(max=60))
    note = Note()

    @ma.pre_load
    def _id_as_text(self, data, **_kw):
        # Clients send the consignment's id as a number or its number ("C000012") as text.
        if (
            isinstance(data, dict)
            and isinstance(data.get("consignment"), int)
            and not isinstance(data.get("consignment"), bool)
        ):
            data = {**data, "consignment": str(data["consignment"])}
        return data


class SaleLineSchema(ma.Schema):
    sku = Sku(required=True)
    quantity = Quantity(required=True)


class SaleSchemaIn(ma.Schema):
    client_sale_id = f.String(required=True, validate=v.Length(min=1, max=64))
    lines = f.List(f.Nested(SaleLineSchema), required=True, validate=v.Length(min=1, max=100))
    paid_with = f.String(required=True, validate=v.OneOf(PAYMENT_METHODS))
    made_at = f.AwareDateTime(metadata={"description": "when the tablet made the sale (ISO 8601 with zone)"})
    card_code = f.String(
        validate=v.Length(min=1, max=40),
        metadata={"description": "the pickup card's code, with paid_with pickup_card (never stored)"},
    )


class SaleBatchSchema(ma.Schema):
    sales = f.List(f.Raw(), required=True, validate=v.Length(min=1, max=200))


class AdjustmentSchema(ma.Schema):
    sku = Sku(required=True)
    quantity_delta = f.Integer(
        strict=True, required=True, validate=v.Range(min=-MAX_QUANTITY, max=MAX_QUANTITY)
    )
    reason = f.String(required=True, validate=v.OneOf([*ADJUSTMENT_REASONS, *REASON_ALIASES]))
    lot = LotCode()
    harvested_on = f.Date()
    best_before = f.Date()
    note = Note()


class CountLineSchema(ma.Schema):
    sku = Sku(required=True)
    counted = f.Integer(strict=True, required=True, validate=v.Range(min=0, max=MAX_QUANTITY))
    lot = LotCode()


class CountSchemaIn(ma.Schema):
    lines = f.List(f.Nested(CountLineSchema), required=True, validate=v.Length(min=1, max=500))
    note = Note()


class ThresholdSchema(ma.Schema):
    threshold = f.Integer(
        strict=True, required=True, allow_none=True, validate=v.Range(min=0, max=MAX_QUANTITY)
    )


class ExpiringArgs(ma.Schema):
    days = f.Integer(load_default=7, validate=v.Range(min=0, max=365))


class MovementArgs(PageArgs):
    kind = f.String(validate=v.OneOf(MOVEMENT_KINDS))
    sku = Sku()
    lot = LotCode()
    reference = f.String(validate=v.Length(min=1, max=80))
    actor = f.String(validate=v.Length(min=1, max=254), metadata={"description": "actor's email"})
    since = f.AwareDateTime()
    until = f.AwareDateTime()


class TransferLineIn(ma.Schema):
    sku = Sku(required=True)
    quantity = Quantity(required=True)
    lot = LotCode()


class TransferSchemaIn(ma.Schema):
    from_ = f.String(required=True, data_key="from", validate=v.Length(min=1, max=40))
    to = f.String(required=True, validate=v.Length(min=1, max=40))
    lines = f.List(f.Nested(TransferLineIn), required=True, validate=v.Length(min=1, max=200))
    reference = f.String(load_default="", validate=v.Length(max=80))
    note = Note()


class ReceiveLineSchema(ma.Schema):
    sku = Sku(required=True)
    quantity = f.Integer(strict=True, required=True, validate=v.Range(min=0, max=MAX_QUANTITY))
    damaged = f.Integer(strict=True, load_default=0, validate=v.Range(min=0, max=MAX_QUANTITY))
    lot = LotCode()


class ReceiveSchema(ma.Schema):
    lines = f.List(f.Nested(ReceiveLineSchema), required=True, validate=v.Length(max=200))
    final = f.Boolean(
        load_default=True,
        metadata={"description": "true: whatever has not arrived is short and the transfer closes"},
    )
    note = Note()


class TransferListArgs(PageArgs):
    direction = f.String(load_default="any", validate=v.OneOf(["in", "out", "any"]))
    status = f.String(validate=v.OneOf(["open", "in_transit", "partially_received", "received", "cancelled"]))


class SaleListArgs(PageArgs):
    date = f.Date()


# -- responses -------------------------------------------------------------------------------------


class LotOut(ma.Schema):
    lot = f.String(required=True)
    quantity = f.Integer(required=True)
    harvested_on = f.Date(allow_none=True)
    best_before = f.Date(allow_none=True)
    expired = f.Boolean()


class StockItemSchema(ma.Schema):
    sku = f.String(required=True)
    name = f.String()
    name_en = f.String()
    on_hand = f.Integer(required=True)
    reserved = f.Integer(required=True)
    available = f.Integer(required=True)
    expired = f.Integer(metadata={"description": "units in lots past best-before (cannot be sold)"})
    low_stock_threshold = f.Integer()
    low = f.Boolean()
    lots = f.List(f.Nested(LotOut), required=True)


class StockPageSchema(ma.Schema):
    location = f.String(required=True)
    items = f.List(f.Nested(StockItemSchema), required=True)
    total = f.Integer()
    page = f.Integer()
    per_page = f.Integer()


class StockListSchema(ma.Schema):
    location = f.String(required=True)
    items = f.List(f.Nested(StockItemSchema), required=True)


class MovementSchema(ma.Schema):
    id = f.Integer(required=True)
    kind = f.String(required=True)
    sku = f.String(required=True)
    location = f.String(required=True)
    lot = f.String(allow_none=True)
    quantity = f.Integer(required=True)
    reserved_delta = f.Integer(required=True)
    actor = f.String(allow_none=True)
    reason = f.String()
    note = f.String()
    reference = f.String()
    created_at = f.DateTime(required=True)


class MovementPageSchema(PageSchema):
    items = f.List(f.Nested(MovementSchema), required=True)


class ExpiringLotSchema(ma.Schema):
    sku = f.String(required=True)
    name = f.String()
    lot = f.String(required=True)
    quantity = f.Integer(required=True)
    best_before = f.Date(required=True)
    days_left = f.Integer(required=True)
    expired = f.Boolean(required=True)


class ExpiringListSchema(ma.Schema):
    location = f.String(required=True)
    days = f.Integer(required=True)
    items = f.List(f.Nested(ExpiringLotSchema), required=True)


class SaleLineOut(ma.Schema):
    sku = f.String(required=True)
    name = f.String()
    quantity = f.Integer(required=True)
    unit_price_fen = f.Integer(required=True)
    amount_fen = f.Integer(required=True)
    currency = f.String(required=True)
    lots = f.List(f.Nested(LotOut))


class SaleSchema(ma.Schema):
    id = f.Integer(required=True)
    client_sale_id = f.String(required=True)
    location = f.String(required=True)
    paid_with = f.String(required=True)
    total_fen = f.Integer(required=True)
    currency = f.String(required=True)
    operator = f.String(allow_none=True)
    made_at = f.DateTime(required=True)
    received_at = f.DateTime(required=True)
    lines = f.List(f.Nested(SaleLineOut), required=True)
    replayed = f.Boolean(metadata={"description": "true when this client_sale_id had already been recorded"})


class SalePageSchema(PageSchema):
    items = f.List(f.Nested(SaleSchema), required=True)


class BatchResultSchema(ma.Schema):
    client_sale_id = f.String(allow_none=True)
    status = f.Integer(required=True)
    sale = f.Nested(SaleSchema, allow_none=True)
    problem = f.Dict(allow_none=True)


class BatchSchemaOut(ma.Schema):
    results = f.List(f.Nested(BatchResultSchema), required=True)
    created = f.Integer(required=True)
    replayed = f.Integer(required=True)
    failed = f.Integer(required=True)


class DiscrepancyOut(ma.Schema):
    sku = f.String(required=True)
    lot = f.String()
    kind = f.String(required=True)
    quantity = f.Integer(required=True)
    accepted = f.Boolean(required=True)
    note = f.String()
    created_at = f.DateTime()


class TransferLineOut(ma.Schema):
    sku = f.String(required=True)
    name = f.String()
    lot = f.String(required=True)
    harvested_on = f.Date(allow_none=True)
    best_before = f.Date(allow_none=True)
    sent = f.Integer(required=True)
    received = f.Integer(required=True)
    damaged = f.Integer(required=True)
    short = f.Integer(required=True)
    returned = f.Integer(required=True)
    in_transit = f.Integer(required=True)


class TransferSchema(ma.Schema):
    id = f.Integer(required=True)
    number = f.String(required=True)
    kind = f.String(required=True)
    status = f.String(required=True)
    from_ = f.String(required=True, data_key="from")
    to = f.String(required=True)
    reference = f.String()
    note = f.String()
    created_at = f.DateTime()
    closed_at = f.DateTime(allow_none=True)
    lines = f.List(f.Nested(TransferLineOut), required=True)
    discrepancies = f.List(f.Nested(DiscrepancyOut))


class TransferPageSchema(PageSchema):
    items = f.List(f.Nested(TransferSchema), required=True)


class ReceiptOut(ma.Schema):
    location = f.String(required=True)
    reference = f.String()
    movements = f.List(f.Nested(MovementSchema))
    transfer = f.Nested(TransferSchema, allow_none=True)


class AdjustmentOut(ma.Schema):
    movements = f.List(f.Nested(MovementSchema), required=True)
    item = f.Nested(StockItemSchema, required=True)


class CountLineOut(ma.Schema):
    sku = f.String(required=True)
    lot = f.String(allow_none=True)
    expected = f.Integer(required=True)
    counted = f.Integer(required=True)
    delta = f.Integer(required=True)


class CountOut(ma.Schema):
    id = f.Integer(required=True)
    location = f.String(required=True)
    note = f.String()
    created_at = f.DateTime()
    lines = f.List(f.Nested(CountLineOut), required=True)


class DriftSchema(ma.Schema):
    variant_id = f.Integer()
    location_id = f.Integer()
    lot_id = f.Integer(allow_none=True)
    field = f.String()
    recorded = f.Integer()
    from_ledger = f.Integer()


class ReconcileOut(ma.Schema):
    ok = f.Boolean(required=True)
    drifts = f.List(f.Nested(DriftSchema), required=True)


# -- presenters ------------------------------------------------------------------------------------


def lot_dict(lot: Lot, today: date) -> dict:
    return {
        "lot": lot.code,
        "quantity": lot.quantity,
        "harvested_on": lot.harvested_on,
        "best_before": lot.best_before,
        "expired": is_expired(lot, today),
    }


def stock_item_dict(row: StockRow) -> dict:
    level = row.level
    return {
        "sku": level.variant.sku,
        "name": level.variant.name_zh,
        "name_en": level.variant.name_en,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        "expired": row.expired,
        "low_stock_threshold": effective_threshold(level),
        "low": row.low,
        "lots": [lot_dict(lot, row.today) for lot in row.lots],
    }


def movement_dict(mv: StockMovement, emails: dict[int, str], location_code: str) -> dict:
    return {
        "id": mv.id,
        "kind": mv.kind,
        "sku": mv.variant.sku,
        "location": location_code,
        "lot": mv.lot.code if mv.lot else None,
        "quantity": mv.quantity,
        "reserved_delta": mv.reserved_delta,
        "actor": emails.get(mv.actor_id) if mv.actor_id else None,
        "reason": mv.reason,
        "note": mv.note,
        "reference": mv.reference,
        "created_at": mv.created_at,
    }


def sale_dict(
    sale: CounterSale,
    lots: dict[int, list[tuple[str, int, date | None]]],
    operator: str | None,
    *,
    replayed: bool,
) -> dict:
    return {
        "id": sale.id,
        "client_sale_id": sale.client_sale_id,
        "location": sale.location.code,
        "paid_with": sale.paid_with,
        "total_fen": sale.total_fen,
        "currency": "CNY",
        "operator": operator,
        "made_at": sale.made_at,
        "received_at": sale.received_at,
        "replayed": replayed,
        "lines": [
            {
                "sku": line.variant.sku,
                "name": line.variant.name_zh,
                "quantity": line.quantity,
                "unit_price_fen": line.unit_price_fen,
                "amount_fen": line.amount_fen,
                "currency": "CNY",
                "lots": [
                    {"lot": code, "quantity": qty, "best_before": bb}
                    for code, qty, bb in lots.get(line.variant_id, [])
                ],
            }
            for line in sale.lines
        ],
    }


def transfer_dict(transfer: Transfer) -> dict:
    return {
        "id": transfer.id,
        "number": transfer.number,
        "kind": transfer.kind,
        "status": transfer.status,
        "from": transfer.from_location.code,
        "to": transfer.to_location.code,
        "reference": transfer.reference,
        "note": transfer.note,
        "created_at": transfer.created_at,
        "closed_at": transfer.closed_at,
        "lines": [
            {
                "sku": line.variant.sku,
                "name": line.variant.name_zh,
                "lot": line.lot_code,
                "harvested_on": line.harvested_on,
                "best_before": line.best_before,
                "sent": line.quantity_sent,
                "received": line.quantity_received,
                "damaged": line.quantity_damaged,
                "short": line.quantity_short,
                "returned": line.quantity_returned,
                "in_transit": line.outstanding,
            }
            for line in transfer.lines
        ],
        "discrepancies": [
            {
                "sku": d.variant.sku,
                "lot": d.lot_code,
                "kind": d.kind,
                "quantity": d.quantity,
                "accepted": d.accepted,
                "note": d.note,
                "created_at": d.created_at,
            }
            for d in transfer.discrepancies
        ],
    }


def count_dict(count: StockCount) -> dict:
    return {
        "id": count.id,
        "location": count.location.code,
        "note": count.note,
        "created_at": count.created_at,
        "lines": [
            {
                "sku": line.variant.sku,
                "lot": line.lot.code if line.lot else None,
                "expected": line.expected,
                "counted": line.counted,
                "delta": line.delta,
            }
            for line in count.lines
        ],
    }
