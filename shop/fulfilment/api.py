"""Fulfilment under /api/v1/fulfilment (operators at their own locations; admins everywhere).

Thin: parse, open one unit of work, call one service, return a dict the schema describes.
"""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.fulfilment import queries, services
from shop.fulfilment.schemas import (
    FulfilmentOrderOut,
    HallPickListOut,
    HandoverIn,
    SectionArgs,
    SectionPage,
    ShipIn,
    fulfilment_order_dict,
    total_pick_dict,
)

blp = Blueprint("fulfilment_api", __name__, url_prefix="/api/v1/fulfilment", description="Fulfilment")
SECURITY = [{"bearerAuth": []}]
STAFF = ("operator", "admin")


def _one(order) -> dict:
    return fulfilment_order_dict(queries.decorate([order])[0])


@blp.route("/locations/<code>/orders")
@blp.arguments(SectionArgs, location="query")
@blp.response(200, SectionPage)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def section(args: dict, code: str):
    """Orders to fulfil at a location: ``to_ship``, ``awaiting_pickup``, ``shipped``, ``waiting`` (paid,
    not picked yet) or ``attention`` (flagged), oldest first, each with its pick list by lot."""
    location = services.location_for(api_user(), code)
    items, total = queries.section_page(
        location, args["section"], page=args["page"], per_page=args["per_page"]
    )
    return {
        "section": args["section"],
        "items": [fulfilment_order_dict(i) for i in items],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
        "counts": queries.section_counts(location),
    }


@blp.route("/locations/<code>/pick-list")
@blp.response(200, HallPickListOut)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def pick_list(code: str):
    """Everything still to take off the shelves at a location, by SKU and lot (first-expiry-first)."""
    location = services.location_for(api_user(), code)
    return {
        "location": location.code,
        "items": [total_pick_dict(t) for t in queries.hall_pick_list(location)],
    }


@blp.route("/locations/<code>/handovers", methods=["POST"])
@idempotent
@blp.arguments(HandoverIn)
@blp.response(200, FulfilmentOrderOut)
@blp.alt_response(404, description="No pickup is waiting at this location with that code")
@blp.alt_response(429, description="Too many wrong codes from this operator at this location; wait and retry")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def hand_over(data: dict, code: str):
    """Hand a pickup order to the buyer who shows its six-digit code; the order completes."""
    staff = api_user()
    with atomic():
        location = services.location_for(staff, code)
        order = services.hand_over(location, data["code"], staff=staff)
        return _one(order)


@blp.route("/orders/<int:order_id>")
@blp.response(200, FulfilmentOrderOut)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def get_order(order_id: int):
    """One order as its location sees it: pick list by lot, parcel or pickup status."""
    return _one(services.order_for_staff(order_id, api_user()))


@blp.route("/orders/<int:order_id>/ship", methods=["POST"])
@idempotent
@blp.arguments(ShipIn)
@blp.response(200, FulfilmentOrderOut)
@blp.alt_response(409, description="No parcel waiting to be shipped")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def ship(data: dict, order_id: int):
    """The parcel left with this courier and tracking number (sent again with new details: a correction)."""
    staff = api_user()
    with atomic():
        services.order_for_staff(order_id, staff)
        services.ship_order(
            order_id,
            staff=staff,
            courier=data["courier"],
            tracking_number=data["tracking_number"],
            courier_note=data["courier_note"],
        )
        return _one(services.order_for_staff(order_id, staff))


@blp.route("/orders/<int:order_id>/delivered", methods=["POST"])
@idempotent
@blp.response(200, FulfilmentOrderOut)
@blp.alt_response(409, description="The parcel has not been shipped")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def delivered(order_id: int):
    """The buyer received the parcel; the order completes."""
    staff = api_user()
    with atomic():
        services.order_for_staff(order_id, staff)
        services.mark_delivered(order_id, staff=staff)
        return _one(services.order_for_staff(order_id, staff))


@blp.route("/orders/<int:order_id>/retry", methods=["POST"])
@idempotent
@blp.response(202, FulfilmentOrderOut)
@blp.alt_response(409, description="No fulfilment step is left to run")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def retry(order_id: int):
    """Queue the fulfilment step a paid order is waiting for again (after fresh stock arrived)."""
    staff = api_user()
    with atomic():
        services.order_for_staff(order_id, staff)
        order = services.retry_fulfilment(order_id, staff=staff)
        return _one(order)
