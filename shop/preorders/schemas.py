"""Request and response schemas of the harvest pre-order API, and the presenters."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v
from marshmallow import validates_schema

from shop.core import clock
from shop.core.api import PageArgs, PageSchema
from shop.orders.schemas import DeliveryIn
from shop.preorders import services
from shop.preorders.models import STATUSES, Campaign, Pledge

CODE = v.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$", error="2 to 40 letters, digits, - or _")
MAX_UNITS = services.MAX_CAP_UNITS


class CampaignIn(ma.Schema):
    code = f.String(required=True, validate=CODE)
    name = f.String(required=True, validate=v.Length(min=1, max=120))
    name_en = f.String(load_default="", validate=v.Length(max=160))
    sku = f.String(required=True, validate=v.Length(min=1, max=60))
    price_fen = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=100_000_000))
    cap_units = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=MAX_UNITS))
    per_buyer_cap = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=MAX_UNITS))
    opens_at = f.AwareDateTime(required=True, metadata={"description": "ISO 8601 with zone"})
    closes_at = f.AwareDateTime(required=True, metadata={"description": "ISO 8601 with zone"})
    ships_from = f.Date(required=True)
    ships_until = f.Date(load_default=None, allow_none=True)
    location = f.String(
        load_default=None,
        validate=v.Length(min=1, max=40),
        metadata={"description": "where the harvest is received (a location that ships); default: the first"},
    )
    story = f.String(load_default="", validate=v.Length(max=5000))
    cover_url = f.String(load_default="", validate=v.Length(max=300))
    status = f.String(load_default="open", validate=v.OneOf(["draft", "open"]))

    @validates_schema
    def _window(self, data, **_kw):
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            raise ma.ValidationError("must be after opens_at", "closes_at")


class CampaignStatusIn(ma.Schema):
    status = f.String(required=True, validate=v.OneOf(["draft", "open"]))


class CampaignOut(ma.Schema):
    code = f.String()
    name = f.String()
    name_en = f.String()
    sku = f.String()
    price_fen = f.Integer()
    currency = f.String()
    cap_units = f.Integer()
    pledged_units = f.Integer(metadata={"description": "units held by pledges, paid or awaiting payment"})
    paid_units = f.Integer(metadata={"description": "units pledged and paid (the progress bar)"})
    remaining_units = f.Integer()
    progress = f.Float(metadata={"description": "paid_units / cap_units"})
    per_buyer_cap = f.Integer()
    opens_at = f.String()
    closes_at = f.String()
    ships_from = f.Date()
    ships_until = f.Date(allow_none=True)
    location = f.String()
    status = f.String(metadata={"enum": list(STATUSES)})
    story = f.String()
    cover_url = f.String()
    harvested_units = f.Integer(allow_none=True)
    allocated_units = f.Integer()
    refunded_units = f.Integer()
    url = f.String()


class CampaignPage(PageSchema):
    items = f.List(f.Nested(CampaignOut))


class PledgeIn(ma.Schema):
    quantity = f.Integer(required=True, strict=True, validate=v.Range(min=1, max=MAX_UNITS))
    delivery = f.Nested(DeliveryIn, required=True)


class PledgeOut(ma.Schema):
    id = f.Integer()
    order_id = f.Integer()
    order_number = f.String()
    campaign = f.String()
    quantity = f.Integer()
    status = f.String(
        metadata={"enum": ["pending_payment", "paid", "filled", "refunded", "cancelled", "expired"]}
    )
    total_fen = f.Integer()
    currency = f.String()
    pay_by = f.String(allow_none=True)
    created_at = f.String()


class PledgePage(PageSchema):
    items = f.List(f.Nested(PledgeOut))


class PledgeListArgs(PageArgs):
    campaign = f.String(validate=v.Length(min=1, max=40))


class HarvestIn(ma.Schema):
    units = f.Integer(required=True, strict=True, validate=v.Range(min=0, max=MAX_UNITS))
    lot = f.String(load_default="", validate=v.Length(max=60))
    harvested_on = f.Date(load_default=None, allow_none=True)
    best_before = f.Date(load_default=None, allow_none=True)


class HarvestOut(ma.Schema):
    code = f.String()
    units = f.Integer()
    allocated_units = f.Integer()
    refunded_units = f.Integer()
    status = f.String()


def campaign_dict(campaign: Campaign) -> dict:
    progress = services.progress_of(campaign)
    return {
        "code": campaign.code,
        "name": campaign.name,
        "name_en": campaign.name_en,
        "sku": campaign.variant.sku,
        "price_fen": campaign.price_fen,
        "currency": campaign.currency,
        "cap_units": campaign.cap_units,
        "pledged_units": campaign.pledged_units,
        "paid_units": progress.paid_units,
        "remaining_units": progress.remaining_units,
        "progress": round(progress.paid_units / campaign.cap_units, 4),
        "per_buyer_cap": campaign.per_buyer_cap,
        "opens_at": clock.aware(campaign.opens_at).isoformat(),
        "closes_at": clock.aware(campaign.closes_at).isoformat(),
        "ships_from": campaign.ships_from,
        "ships_until": campaign.ships_until,
        "location": campaign.location.code,
        "status": services.status_of(campaign),
        "story": campaign.story,
        "cover_url": campaign.cover_url,
        "harvested_units": campaign.harvested_units,
        "allocated_units": campaign.allocated_units,
        "refunded_units": campaign.refunded_units,
        "url": f"/campaigns/{campaign.code}",
    }


def pledge_dict(pledge: Pledge) -> dict:
    order = services.order_of(pledge)
    return {
        "id": pledge.id,
        "order_id": pledge.order_id,
        "order_number": order.number,
        "campaign": pledge.campaign.code,
        "quantity": pledge.quantity,
        "status": services.pledge_status(pledge, order),
        "total_fen": order.total_fen,
        "currency": order.currency,
        "pay_by": clock.aware(order.reserved_until).isoformat()
        if order.status == "pending_payment"
        else None,
        "created_at": clock.aware(pledge.created_at).isoformat(),
    }
