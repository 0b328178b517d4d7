"""Orders under /api/v1/orders: place (idempotent), read, list, cancel."""

from __future__ import annotations

from flask import jsonify, make_response
from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.core.api import page_of
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.core.limits import limit_orders
from shop.orders import services
from shop.orders.schemas import CancelIn, OrderIn, OrderListArgs, OrderOut, OrderPage, order_dict
from shop.returns import services as returns
from shop.returns.schemas import RefundRequestOut, request_dict

blp = Blueprint("orders_api", __name__, url_prefix="/api/v1/orders", description="Orders")
SECURITY = [{"bearerAuth": []}]


def _delivery(data: dict) -> services.DeliveryRequest:
    address = data.get("address") or {}
    return services.DeliveryRequest(
        type=data["type"],
        location=data.get("location"),
        recipient=address.get("recipient", ""),
        phone=address.get("phone", ""),
        district=address.get("district", ""),
        street_address=address.get("street_address", ""),
        note=data.get("note", ""),
    )


@blp.route("", methods=["POST"])
@idempotent
@limit_orders
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
@blp.alt_response(409, description="Not enough stock (the problem names the SKU)")
@blp.alt_response(422, description="Invalid lines, delivery, or a reused Idempotency-Key")
@blp.doc(security=SECURITY)
@require_role()
def create_order(data: dict):
    """Place an order at catalogue prices; its stock is reserved until ``reserved_until``."""
    buyer = api_user()
    lines = [services.LineRequest(sku=line["sku"], quantity=line["quantity"]) for line in data["lines"]]
    with atomic():
        order = services.place_order(buyer, lines, _delivery(data["delivery"]))
        return order_dict(services.order_details(order))


@blp.route("", methods=["GET"])
@blp.arguments(OrderListArgs, location="query")
@blp.response(200, OrderPage)
@blp.doc(security=SECURITY)
@require_role()
def list_orders(args: dict):
    """The caller's orders, newest first (staff with ``all=true``: the orders at their locations)."""
    user = api_user()
    stmt = services.orders_query(
        user, mine_only=not args["all"], status=args.get("status"), attention=args.get("attention")
    )
    rows, total = page_of(stmt, page=args["page"], per_page=args["per_page"])
    staff = user.is_staff
    return {
        "items": [order_dict(services.order_details(o), staff=staff) for o in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/<int:order_id>")
@blp.response(200, OrderOut)
@blp.doc(security=SECURITY)
@require_role()
def get_order(order_id: int):
    """One order (its buyer, or staff of its location)."""
    user = api_user()
    order = services.order_for_viewer(order_id, user)
    return order_dict(services.order_details(order), staff=user.is_staff)


@blp.route("/<int:order_id>/cancel", methods=["POST"])
@blp.arguments(CancelIn)
@blp.response(200, OrderOut)
@blp.alt_response(
    202,
    schema=RefundRequestOut,
    description="The order is paid: the cancellation is a refund request the hall approves",
)
@blp.doc(security=SECURITY)
@require_role()
def cancel_order(data: dict, order_id: int):
    """Cancel before fulfilment: an unpaid order at once (its stock released, 200). A paid order its buyer
    cancels before hand-over becomes a refund request (reason ``cancel``, 202) that staff of its location
    approve; staff of the location cancel a paid order at once, refunding it in full."""
    user = api_user()
    with atomic():
        services.order_for_viewer(order_id, user)
        done = returns.cancel_order(order_id, actor=user, reason=data["reason"] or "cancelled by the buyer")
        if done.request is not None:
            # Another body than the 200's schema: rendered here (flask-smorest dumps with the 200's).
            body = RefundRequestOut().dump(request_dict(done.request, done.order))
            return make_response(jsonify(body), 202)
        return order_dict(services.order_details(done.order), staff=user.is_staff)
