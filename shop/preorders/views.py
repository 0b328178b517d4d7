"""Campaign pages (认购): the list, the shareable campaign page (progress, share card, QR code) where a
buyer pledges from their phone, and the buyer's pledges. Thin: parse, call one use case, render."""

from __future__ import annotations

import io
from datetime import date, datetime

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from shop.accounts.auth import require_staff_page
from shop.catalog.services import list_locations
from shop.core import clock
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.core.limits import limit_orders
from shop.core.web import NAV_LINKS
from shop.orders.services import FREE_SHIPPING_FROM_FEN, SHIPPING_FEE_FEN, TIANJIN_DISTRICTS, DeliveryRequest
from shop.preorders import harvest, services
from shop.preorders.errors import BuyerCapReached, CampaignNotFound, CampaignNotOpen, CapReached

bp = Blueprint("preorders_web", __name__)

# The header's links (appended here, so the shared list needs no edit for this domain).
NAV_LINKS.append(("preorders_web.campaigns", _l("Harvest pre-orders"), ()))
NAV_LINKS.append(("preorders_web.staff_campaigns", _l("Campaigns"), ("admin",)))


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


@bp.route("/campaigns/<code>")
def campaign_page(code: str):
    """The shareable page: anyone may read it (no rate limit on reading a link shared widely)."""
    return _render_campaign(_public_campaign(code), request.form, {})


@bp.route("/campaigns/<code>", methods=["POST"])
@limit_orders
def pledge(code: str):
    """Pledge from the campaign page; on success the buyer lands on the order to pay it."""
    campaign = _public_campaign(code)
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.path))
    form = request.form
    errors: dict[str, str] = {}
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
                order_id = services.place_pledge(current_user, code, int(quantity), delivery).order_id
        except ShopError as err:
            errors = _errors_in_page_language(err, campaign)
        else:
            flash(_("Thank you! Your pledge is placed. Please pay it before the time shown."), "ok")
            return redirect(url_for("orders_web.order_page", order_id=order_id))
    return _render_campaign(campaign, form, errors), 422


def _render_campaign(campaign, form, errors: dict[str, str]) -> str:
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
        page_url=_page_url(campaign.code),
        free_from=FREE_SHIPPING_FROM_FEN,
        shipping_fee=SHIPPING_FEE_FEN,
        is_zh=str(get_locale() or "zh") == "zh",
    )


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
    # why: segno is loaded by the processes that draw a QR code, not by every worker at start
    import segno

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


# -- admin pages: set up campaigns, publish, record the harvest ---------------------------------------


def _local_moment(value: str) -> datetime | None:
    """A ``datetime-local`` form value read in the shop's zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return clock.at_local(moment.date(), moment.time())


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.route("/admin/campaigns", methods=["GET", "POST"])
@require_staff_page("admin")
def staff_campaigns():
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            "code": form.get("code", "").strip(),
            "name": form.get("name", "").strip(),
            "name_en": form.get("name_en", "").strip(),
            "sku": form.get("sku", "").strip(),
            "price_fen": _int(form.get("price_fen", "")),
            "cap_units": _int(form.get("cap_units", "")),
            "per_buyer_cap": _int(form.get("per_buyer_cap", "")),
            "opens_at": _local_moment(form.get("opens_at", "")),
            "closes_at": _local_moment(form.get("closes_at", "")),
            "ships_from": _day(form.get("ships_from", "")),
            "ships_until": _day(form.get("ships_until", "")),
            "location": form.get("location", "").strip() or None,
            "story": form.get("story", "")[:5000],
            "cover_url": form.get("cover_url", "").strip()[:300],
            "status": form.get("status", "draft"),
        }
        for key in (
            "code",
            "name",
            "sku",
            "price_fen",
            "cap_units",
            "per_buyer_cap",
            "opens_at",
            "closes_at",
            "ships_from",
        ):
            if not values[key] or (isinstance(values[key], int) and values[key] < 1):
                errors[key] = _("Please check this field.")
        if values["code"] and not (
            2 <= len(values["code"]) <= 40 and values["code"].replace("-", "").replace("_", "").isalnum()
        ):
            errors["code"] = _("Please check this field.")
        if not errors:
            try:
                with atomic():
                    services.create_campaign(**values, actor=current_user)
            except ShopError as err:
                errors = {e["field"]: e["message"] for e in err.errors or []} or {"form": err.detail}
            else:
                flash(_("The campaign is saved."), "ok")
                return redirect(url_for("preorders_web.staff_campaigns"))
    rows = db.session.scalars(services.campaigns_query(public=False).limit(100)).all()
    return render_template(
        "preorders/staff_campaigns.html",
        items=[(c, services.progress_of(c), services.status_of(c)) for c in rows],
        form=form,
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/admin/campaigns/<code>/status", methods=["POST"])
@require_staff_page("admin")
def staff_status(code: str):
    try:
        with atomic():
            services.set_campaign_status(code, status=request.form.get("status", ""), actor=current_user)
    except ShopError as err:
        flash(err.detail, "error")
    return redirect(url_for("preorders_web.staff_campaigns"))


@bp.route("/admin/campaigns/<code>/harvest", methods=["POST"])
@require_staff_page("admin")
def staff_harvest(code: str):
    form = request.form
    units = _int(form.get("units", "").strip())
    if units is None:
        flash(_("Enter the harvested units as a whole number."), "error")
        return redirect(url_for("preorders_web.staff_campaigns"))
    try:
        with atomic():
            done = harvest.record_harvest(
                code,
                units=units,
                actor=current_user,
                lot=form.get("lot", "").strip()[:60],
                harvested_on=_day(form.get("harvested_on", "")),
                best_before=_day(form.get("best_before", "")),
            )
            allocated, refunded = done.allocated_units, done.refunded_units
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(
            _("Harvest recorded: %(a)s units to fill, %(r)s units to refund.", a=allocated, r=refunded), "ok"
        )
    return redirect(url_for("preorders_web.staff_campaigns"))
