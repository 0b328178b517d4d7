"""Staff page of refund requests: the open ones of the staff member's locations, approve or reject.

Thin: parse the form, call one use case in one unit of work, flash and redirect.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.accounts.auth import require_staff_page
from shop.catalog.services import list_locations
from shop.core.api import page_of
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.orders.lifecycle import get_order
from shop.orders.states import HANDED_OVER
from shop.returns import services
from shop.returns.errors import InvalidRefundRequest
from shop.returns.models import STATES

bp = Blueprint("returns_web", __name__)
PER_PAGE = 30


@bp.get("/staff/refund-requests")
@require_staff_page("operator", "admin")
def staff_requests():
    status = request.args.get("status", "open")
    status = status if status in STATES else None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = page_of(services.requests_query(current_user, status=status), page=page, per_page=PER_PAGE)
    return render_template(
        "returns/staff_requests.html",
        items=[(r, get_order(r.order_id)) for r in rows],
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        status=status,
        statuses=STATES,
        reasons=services.REASON_NAMES,
        handed_over=HANDED_OVER,
        locations=list(current_user.locations) if current_user.role != "admin" else list_locations(),
    )


def _back():
    return redirect(url_for("returns_web.staff_requests", status=request.form.get("status_filter") or "open"))


@bp.post("/staff/refund-requests/<int:request_id>/approve")
@require_staff_page("operator", "admin")
def approve(request_id: int):
    amount = request.form.get("amount_yuan", "").strip()
    try:
        with atomic():
            services.approve_request(
                request_id,
                staff=current_user,
                amount_fen=_fen(amount) if amount else None,
                restock_location=request.form.get("restock_location") or None,
                note=request.form.get("note", ""),
            )
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Refund request approved: the refund is on its way to the buyer."), "ok")
    return _back()


@bp.post("/staff/refund-requests/<int:request_id>/reject")
@require_staff_page("operator", "admin")
def reject(request_id: int):
    try:
        with atomic():
            services.reject_request(request_id, staff=current_user, reason=request.form.get("reason", ""))
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Refund request rejected; the buyer is told why."), "ok")
    return _back()


def _fen(yuan: str) -> int:
    """A yuan amount typed by staff ("68", "68.5") in fen, without floats."""
    text = yuan.replace("¥", "").replace(",", "").strip()
    whole, _sep, frac = text.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise InvalidRefundRequest(
            f"{yuan!r} is not an amount in yuan", errors=[{"field": "amount_yuan", "message": "yuan"}]
        )
    return int(whole) * 100 + int((frac + "00")[:2])
