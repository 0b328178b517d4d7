"""Refund requests under /api/v1: the buyer asks, staff of the order's location approve or reject."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.core.api import page_of
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.orders import services as orders
from shop.orders.lifecycle import get_order
from shop.orders.schemas import order_dict, refund_dict
from shop.returns import services
from shop.returns.schemas import (
    ApproveIn,
    DecisionOut,
    RefundRequestIn,
    RefundRequestOut,
    RefundRequestPage,
    RejectIn,
    RequestListArgs,
    request_dict,
)

blp = Blueprint("returns_api", __name__, url_prefix="/api/v1", description="Refund requests")
SECURITY = [{"bearerAuth": []}]
STAFF = ("operator", "admin")


def _decision(request) -> dict:
    order = get_order(request.order_id)
    refund = services.refund_of(request)
    return {
        "refund_request": request_dict(request, order),
        "refund": refund_dict(refund) if refund else None,
        "order": order_dict(orders.order_details(order), staff=True),
    }


@blp.route("/orders/<int:order_id>/refund-requests", methods=["POST"])
@idempotent
@blp.arguments(RefundRequestIn)
@blp.response(201, RefundRequestOut)
@blp.alt_response(409, description="Nothing left to refund, or a request is already open")
@blp.alt_response(422, description="Unknown SKU, too many units, or cancel after hand-over")
@blp.doc(security=SECURITY)
@require_role()
def create_request(data: dict, order_id: int):
    """The buyer asks for money back (cancel before hand-over, a damaged or wrong item); staff decide."""
    buyer = api_user()
    with atomic():
        orders.order_for_viewer(order_id, buyer)
        request = services.request_refund(
            order_id, buyer=buyer, reason=data["reason"], note=data["note"], lines=data.get("lines")
        )
        return request_dict(request, get_order(order_id))


@blp.route("/refund-requests", methods=["GET"])
@blp.arguments(RequestListArgs, location="query")
@blp.response(200, RefundRequestPage)
@blp.doc(security=SECURITY)
@require_role()
def list_requests(args: dict):
    """Requests the caller may see, newest first: a buyer's own; staff, those of their locations."""
    stmt = services.requests_query(api_user(), status=args.get("status"), order_id=args.get("order_id"))
    rows, total = page_of(stmt, page=args["page"], per_page=args["per_page"])
    return {
        "items": [request_dict(r, get_order(r.order_id)) for r in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/refund-requests/<int:request_id>", methods=["GET"])
@blp.response(200, RefundRequestOut)
@blp.doc(security=SECURITY)
@require_role()
def get_request(request_id: int):
    """One request (its buyer, or staff of the order's location)."""
    request = services.request_for_viewer(request_id, api_user())
    return request_dict(request, get_order(request.order_id))


@blp.route("/refund-requests/<int:request_id>/approve", methods=["POST"])
@blp.arguments(ApproveIn)
@blp.response(200, DecisionOut)
@blp.alt_response(409, description="Already decided, or nothing left to refund")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def approve(data: dict, request_id: int):
    """Staff: refund through the gateway that took the money; the goods are released or put back."""
    staff = api_user()
    with atomic():
        request = services.approve_request(
            request_id,
            staff=staff,
            amount_fen=data.get("amount_fen"),
            restock_location=data.get("restock_location"),
            note=data["note"],
        )
        return _decision(request)


@blp.route("/refund-requests/<int:request_id>/reject", methods=["POST"])
@blp.arguments(RejectIn)
@blp.response(200, RefundRequestOut)
@blp.alt_response(409, description="Already decided")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def reject(data: dict, request_id: int):
    """Staff: decline with a reason the buyer is told; nothing else changes."""
    staff = api_user()
    with atomic():
        request = services.reject_request(request_id, staff=staff, reason=data["reason"])
        return request_dict(request, get_order(request.order_id))
