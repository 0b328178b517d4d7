"""Refunds as people ask for them: the staff refund, the buyer's refund request and its decision.

These use cases sit above payments and fulfilment (and the order use cases): a refund is money and books
(``shop.payments.refunds.create_refund``: refund row, aid reversal, stock) and, when nothing is left to
hand over, a voided pickup ticket or parcel (``shop.fulfilment.services.void_handover``), in one unit of
work.

The rule for buyers (docs/orders.md, "Cancellation and refunds"): an unpaid order is cancelled at once;
once money was taken, a buyer asks and staff of the order's location decide. A cancellation of a paid
order that was not handed over yet becomes a refund request with reason ``cancel``; after hand-over a
buyer asks for a refund of a damaged or wrong item. Staff are told (a notification to the location) and
every request and decision is in the audit log. Approving refunds through the gateway that took the
money (``send_refund`` after commit); rejecting tells the buyer why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from shop.accounts.auth import ensure_location_access
from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog.services import get_location
from shop.core.db import db, utcnow
from shop.fulfilment.services import void_handover
from shop.notifications.services import notify
from shop.orders import services as order_use_cases
from shop.orders.errors import OrderNotFound
from shop.orders.lifecycle import lock_order
from shop.orders.models import Order
from shop.orders.states import PICKED_NOT_HANDED_OVER, REFUNDABLE
from shop.payments.models import Refund
from shop.payments.refunds import create_refund
from shop.returns.errors import (
    InvalidRefundRequest,
    NotRefundable,
    RefundRequestNotFound,
    RefundRequestOpen,
    RequestDecided,
)
from shop.returns.models import REASONS, RefundRequest

# How reasons read for people (pages, notifications), Chinese first.
REASON_NAMES = {
    "cancel": ("取消订单", "Cancel the order"),
    "damaged": ("商品破损", "Damaged item"),
    "wrong_item": ("发错商品", "Wrong item"),
    "other": ("其他原因", "Other reason"),
}
# A buyer may cancel (ask to) until the goods are handed over; the refund then puts them back.
CANCELLABLE_BY_REQUEST = ("paid", *PICKED_NOT_HANDED_OVER)


# -- the staff refund ---------------------------------------------------------------------------------


def _refund(
    order: Order,
    *,
    staff: User,
    reason: str,
    amount_fen: int | None,
    lines: list[dict] | None,
    restock_location: str | None,
) -> Refund:
    """Refund the (locked) order and void its hand-over when nothing is left to hand over."""
    restock_at = None
    if restock_location:
        restock_at = get_location(restock_location)
        ensure_location_access(staff, restock_at)
    refund = create_refund(
        order,
        reason=reason,
        actor_id=staff.id,
        amount_fen=amount_fen,
        lines=lines,
        restock_at=restock_at,
    )
    void_handover(order)
    return refund


def refund_order(
    order_id: int,
    *,
    staff: User,
    reason: str,
    amount_fen: int | None = None,
    lines: list[dict] | None = None,
    restock_location: str | None = None,
) -> Refund:
    """Staff refund (part of) an order at one of their locations (docs/orders.md for the stock rules)."""
    order = lock_order(order_id)
    ensure_location_access(staff, order.location)
    refund = _refund(
        order,
        staff=staff,
        reason=reason,
        amount_fen=amount_fen,
        lines=lines,
        restock_location=restock_location,
    )
    record(
        staff,
        "order.refunded",
        target_type="order",
        target_id=order.id,
        number=order.number,
        refund_id=refund.id,
        amount_fen=refund.amount_fen,
        reason=refund.reason,
        restock_location=restock_location or "",
    )
    return refund


# -- cancellation as the buyer asks for it ------------------------------------------------------------


@dataclass(frozen=True)
class Cancellation:
    """What a cancellation did: the order, and the refund request when it now waits for staff."""

    order: Order
    request: RefundRequest | None = None


def cancel_order(order_id: int, *, actor: User, reason: str = "cancelled by the buyer") -> Cancellation:
    """Cancel an order as ``actor`` asks: at once when unpaid (or when staff of its location ask); a
    buyer's cancellation of a paid order not yet handed over becomes a refund request (reason cancel)."""
    order = lock_order(order_id)
    buyer_asks = order.user_id == actor.id and not actor.can_act_at(order.location)
    if buyer_asks and order.status in CANCELLABLE_BY_REQUEST:
        request = request_refund(order.id, buyer=actor, reason="cancel", note=reason)
        return Cancellation(order, request)
    return Cancellation(order_use_cases.cancel_order(order_id, actor=actor, reason=reason))


# -- refund requests ----------------------------------------------------------------------------------


def _requested_lines(order: Order, lines: list[dict] | None) -> list[dict]:
    if not lines:
        return []
    by_sku = {line.sku: line for line in order.lines}
    seen: set[str] = set()
    errors = []
    for i, item in enumerate(lines):
        line = by_sku.get(item["sku"])
        left = line.quantity - line.refunded_quantity if line else 0
        if line is None:
            errors.append({"field": f"lines.{i}.sku", "message": f"{item['sku']} is not in this order"})
        elif item["sku"] in seen:
            errors.append({"field": f"lines.{i}.sku", "message": "listed twice"})
        elif not 1 <= item["quantity"] <= left:
            errors.append({"field": f"lines.{i}.quantity", "message": f"1 to {left}"})
        seen.add(item["sku"])
    if errors:
        raise InvalidRefundRequest("; ".join(e["message"] for e in errors), errors=errors)
    return [{"sku": item["sku"], "quantity": item["quantity"]} for item in lines]


def _tell_staff(request: RefundRequest, order: Order, buyer: User) -> None:
    zh, en = REASON_NAMES[request.reason]
    what = (
        "整单 whole order"
        if not request.lines
        else ", ".join(f"{x['sku']} ×{x['quantity']}" for x in request.lines)
    )
    notify(
        dedupe_key=f"refund-request:{request.id}:opened",
        kind="refund_request",
        subject=f"退款申请 Refund request · {order.number} · {zh} {en}"[:200],
        body=(
            f"买家 {buyer.name or buyer.email} 申请退款（{zh}），请审核。\n"
            f"The buyer asks for a refund ({en}); please approve or reject it.\n\n"
            f"订单号 Order {order.number} · {what}\n{request.note}"
        ),
        location_id=order.location_id,
    )


def request_refund(
    order_id: int, *, buyer: User, reason: str, note: str = "", lines: list[dict] | None = None
) -> RefundRequest:
    """The buyer asks for money back on their order; staff of its location are told and decide.

    ``lines`` (sku, quantity) narrows it to some goods; none means everything still refundable. Reason
    ``cancel`` is for the whole order before hand-over; after hand-over a buyer asks for a damaged or
    wrong item. One request per order is open at a time (409 for a second).
    """
    order = lock_order(order_id)
    if order.user_id != buyer.id:
        raise OrderNotFound(f"order {order_id} does not exist")  # other people's orders stay unknown
    if reason not in REASONS:
        raise InvalidRefundRequest(
            f"reason must be one of {', '.join(REASONS)}",
            errors=[{"field": "reason", "message": f"one of {', '.join(REASONS)}"}],
        )
    if order.status not in REFUNDABLE or order.refundable_fen <= 0:
        raise NotRefundable(f"order {order.number} is {order.status}: nothing on it can be refunded")
    if reason == "cancel" and order.status not in CANCELLABLE_BY_REQUEST:
        raise InvalidRefundRequest(
            f"order {order.number} was handed over: ask for a refund of a damaged or wrong item instead",
            errors=[{"field": "reason", "message": "cancel only before the goods are handed over"}],
        )
    if reason == "cancel" and lines:
        raise InvalidRefundRequest(
            "a cancellation is for the whole order", errors=[{"field": "lines", "message": "leave empty"}]
        )
    wanted = _requested_lines(order, lines)
    if db.session.scalar(
        select(RefundRequest.id).where(RefundRequest.order_id == order.id, RefundRequest.status == "open")
    ):
        raise RefundRequestOpen(f"order {order.number} already has an open refund request")
    request = RefundRequest(
        order_id=order.id,
        location_id=order.location_id,
        buyer_id=buyer.id,
        reason=reason,
        note=(note or "").strip()[:500],
        lines=wanted,
        status="open",
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # pragma: no cover - the order lock serialises requests for one order
        raise RefundRequestOpen(f"order {order.number} already has an open refund request") from None
    _tell_staff(request, order, buyer)
    record(
        buyer,
        "refund_request.created",
        target_type="order",
        target_id=order.id,
        number=order.number,
        refund_request_id=request.id,
        reason=reason,
        note=request.note,
        lines=wanted,
    )
    return request


def _open_request(request_id: int, staff: User) -> tuple[RefundRequest, Order]:
    """The request and its order, locked, if ``staff`` may decide it and it is still open."""
    request = db.session.get(RefundRequest, request_id)
    if request is None:
        raise RefundRequestNotFound(f"refund request {request_id} does not exist")
    order = lock_order(request.order_id)  # decisions on one order queue here
    ensure_location_access(staff, order.location)
    db.session.refresh(request)
    if request.status != "open":
        raise RequestDecided(f"refund request {request_id} was already {request.status}")
    return request, order


def approve_request(
    request_id: int,
    *,
    staff: User,
    amount_fen: int | None = None,
    restock_location: str | None = None,
    note: str = "",
) -> RefundRequest:
    """Approve a buyer's request: refund through the gateway that took the money, and release or put
    back the goods (a paid order asked to be cancelled is cancelled, as staff would cancel it)."""
    request, order = _open_request(request_id, staff)
    en = REASON_NAMES[request.reason][1]
    reason = f"refund request {request.id}: {en}" + (f" ({request.note})" if request.note else "")
    if request.reason == "cancel" and order.status == "paid" and amount_fen is None:
        order_use_cases.cancel_order(order.id, actor=staff, reason=reason[:200])
        refund = db.session.scalar(
            select(Refund).where(Refund.order_id == order.id).order_by(Refund.id.desc()).limit(1)
        )
    else:
        refund = _refund(
            order,
            staff=staff,
            reason=reason[:200],
            amount_fen=amount_fen,
            lines=request.lines or None,
            restock_location=restock_location,
        )
    request.status = "approved"
    request.decided_at = utcnow()
    request.decided_by_id = staff.id
    request.decision_note = (note or "").strip()[:500]
    request.refund_id = refund.id if refund else None
    db.session.flush()
    record(
        staff,
        "refund_request.approved",
        target_type="order",
        target_id=order.id,
        number=order.number,
        refund_request_id=request.id,
        refund_id=request.refund_id,
        amount_fen=refund.amount_fen if refund else 0,
        reason=request.reason,
        restock_location=restock_location or "",
    )
    return request


def reject_request(request_id: int, *, staff: User, reason: str) -> RefundRequest:
    """Reject a buyer's request with a reason the buyer is told; nothing else changes."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRefundRequest(
            "say why the request is rejected", errors=[{"field": "reason", "message": "required"}]
        )
    request, order = _open_request(request_id, staff)
    request.status = "rejected"
    request.decided_at = utcnow()
    request.decided_by_id = staff.id
    request.decision_note = reason[:500]
    db.session.flush()
    notify(
        dedupe_key=f"refund-request:{request.id}:rejected",
        kind="refund_request_rejected",
        subject=f"退款申请未通过 Refund request declined · {order.number}"[:200],
        body=f"您的退款申请未通过：{request.decision_note}\nYour refund request was declined: "
        f"{request.decision_note}\n\n订单号 Order {order.number}",
        user=db.session.get(User, request.buyer_id),
    )
    record(
        staff,
        "refund_request.rejected",
        target_type="order",
        target_id=order.id,
        number=order.number,
        refund_request_id=request.id,
        reason=request.decision_note,
    )
    return request


# -- reading ------------------------------------------------------------------------------------------


def request_for_viewer(request_id: int, viewer: User) -> RefundRequest:
    """The request if ``viewer`` asked it or may decide it (404 otherwise)."""
    request = db.session.get(RefundRequest, request_id)
    if request is None or not _can_see(viewer, request):
        raise RefundRequestNotFound(f"refund request {request_id} does not exist")
    return request


def _can_see(viewer: User, request: RefundRequest) -> bool:
    if request.buyer_id == viewer.id or viewer.role == "admin":
        return True
    return viewer.role == "operator" and any(loc.id == request.location_id for loc in viewer.locations)


def requests_query(viewer: User, *, status: str | None = None, order_id: int | None = None) -> Select:
    """Requests ``viewer`` may see, newest first: a buyer's own, an operator's locations', all for admins."""
    stmt = select(RefundRequest)
    if viewer.role == "operator":
        stmt = stmt.where(RefundRequest.location_id.in_([loc.id for loc in viewer.locations]))
    elif viewer.role != "admin":
        stmt = stmt.where(RefundRequest.buyer_id == viewer.id)
    if status:
        stmt = stmt.where(RefundRequest.status == status)
    if order_id is not None:
        stmt = stmt.where(RefundRequest.order_id == order_id)
    return stmt.order_by(RefundRequest.created_at.desc(), RefundRequest.id.desc())


def latest_request(order: Order) -> RefundRequest | None:
    """The order's newest refund request (the buyer's order page shows where it stands)."""
    return db.session.scalar(
        select(RefundRequest)
        .where(RefundRequest.order_id == order.id)
        .order_by(RefundRequest.id.desc())
        .limit(1)
    )


def refund_of(request: RefundRequest) -> Refund | None:
    """The refund an approval made (None before, or for a rejected request)."""
    return db.session.get(Refund, request.refund_id) if request.refund_id else None
