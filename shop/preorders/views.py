"""Campaign pages (认购): the list, the shareable campaign page (progress, share card, QR code) where a
buyer pledges from their phone, and the buyer's pledges. Thin: parse, call one use case, render."""

from __future__ import annotations

import io

import segno
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from shop.catalog.services import list_locations
from shop.core import clock
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.core.limits import limit_orders
from shop.orders.services import FREE_SHIPPING_FROM_FEN, SHIPPING_FEE_FEN, TIANJIN_DISTRICTS, DeliveryRequest
from shop.preorders import services
from shop.preorders.errors import BuyerCapReached, CampaignNotFound, CampaignNotOpen, CapReached

bp = Blueprint("preorders_web", __name__)


def _public_campaign(code: str):
    try:
        campaign = services.get_campaign(code)
    except CampaignNotFound:
        abort(404)
    if campaign.status == "draft" and not (current_user.is_authenticated and current_user.role == "admin"):
        abort(404)
    return campaign


def _page_url(code: str) -> str:
    base = current_app.extensions["settings"].PUBLIC_BASE_URL.rstrip("/")
    return f"{base}{url_for('preorders_web.campaign_page', code=code)}"


@bp.route("/campaigns")
def campaigns():
    rows = db.session.scalars(services.campaigns_query().limit(50)).all()
    return render_template(
        "preorders/campaigns.html",
        items=[(c, services.progress_of(c), services.status_of(c)) for c in rows],
    )


@bp.route("/campaigns/<code>", methods=["GET", "POST"])
@limit_orders
def campaign_page(code: str):
    campaign = _public_campaign(code)
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not current_user.is_authenticated:
            return redirect(url_for("accounts.login", next=request.path))
        quantity = form.get("quantity", "")
        delivery = DeliveryRequest(
            type=form.get("delivery_type", ""),
            location=form.get("location") or None,
            recipient=form.get("recipient", ""),
            phone=form.get("phone", ""),
            district=form.get("district", ""),
            street_address=form.get("street_address", ""),
            note=form.get("note", ""),
        )
        if not quantity.isdigit() or not 1 <= int(quantity) <= services.MAX_CAP_UNITS:
            errors["quantity"] = _("Enter a whole number of units, at least 1.")
        else:
            try:
                with atomic():
                    pledge = services.place_pledge(current_user, code, int(quantity), delivery)
                    order_id = pledge.order_id
            except ShopError as err:
                errors = _errors_in_page_language(err, campaign)
            else:
                flash(_("Thank you! Your pledge is placed. Please pay it before the time shown."), "ok")
                return redirect(url_for("orders_web.order_page", order_id=order_id))
    halls = [loc for loc in list_locations(on=clock.today()) if loc.pickup]
    mine = services.buyer_units(campaign, current_user) if current_user.is_authenticated else 0
    return render_template(
        "preorders/campaign.html",
        campaign=campaign,
        pledge_progress=services.progress_of(campaign),
        status=services.status_of(campaign),
        taking=services.is_taking_pledges(campaign, clock.now()),
        mine=mine,
        halls=halls,
        districts=TIANJIN_DISTRICTS,
        form=form,
        errors=errors,
        page_url=_page_url(code),
        free_from=FREE_SHIPPING_FROM_FEN,
        shipping_fee=SHIPPING_FEE_FEN,
        is_zh=str(get_locale() or "zh") == "zh",
    ), (422 if errors else 200)


def _errors_in_page_language(err: ShopError, campaign) -> dict[str, str]:
    """The use case's refusal, beside the field it concerns, in the page's language."""
    if isinstance(err, BuyerCapReached):
        return {"quantity": _("One buyer may pledge at most %(n)s units in all.", n=campaign.per_buyer_cap)}
    if isinstance(err, CapReached):
        return {"quantity": _("Only %(n)s units are left.", n=err.extra.get("remaining_units", 0))}
    if isinstance(err, CampaignNotOpen):
        return {"form": _("This campaign does not take pledges now.")}
    fields = {e["field"].split(".")[-1] for e in err.errors or []}
    if fields:
        return {f: _("Please check this field.") for f in fields} | {
            "form": _("Please check the marked fields.")
        }
    return {"form": err.detail}


@bp.route("/campaigns/<code>/qr.svg")
def campaign_qr(code: str):
    """The campaign page's address as a QR code (SVG, drawn here: no outside service)."""
    _public_campaign(code)
    out = io.BytesIO()
    segno.make(_page_url(code), error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return Response(
        out.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"}
    )


@bp.route("/pledges")
@login_required
def my_pledges():
    rows = db.session.scalars(services.pledges_query(current_user).limit(100)).all()
    return render_template(
        "preorders/my_pledges.html",
        items=[(p, services.order_of(p), services.pledge_status(p)) for p in rows],
    )


@bp.route("/pledges/<int:pledge_id>/cancel", methods=["POST"])
@login_required
def cancel(pledge_id: int):
    try:
        with atomic():
            services.cancel_pledge(pledge_id, buyer=current_user)
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Your pledge is withdrawn; a paid pledge is refunded in full."), "ok")
    return redirect(url_for("preorders_web.my_pledges"))
