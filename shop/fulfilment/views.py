"""Operator pages under /console/fulfilment: orders to fulfil at my hall with pick lists by lot, pickup
hand-over by code, shipments (courier and tracking number, delivered), and for admins the queues page.

Thin: parse the form, call one service in one unit of work, flash and redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.accounts.auth import require_staff_page
from shop.core import outbox
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.core.models import OutboxMessage, TaskFailure
from shop.core.outbox import requeue as requeue_message
from shop.core.periodic import last_runs
from shop.fulfilment import queries, services
from shop.fulfilment.errors import PickupNotFound, TooManyWrongCodes
from shop.fulfilment.models import COURIERS
from shop.notifications.services import for_locations

bp = Blueprint("fulfilment_web", __name__, url_prefix="/console/fulfilment")
STAFF = ("operator", "admin")
PER_PAGE = 30


def _error(err: ShopError) -> None:
    flash(err.detail, "error")
    for e in err.errors or []:
        flash(f"{e['field']}: {e['message']}", "error")


def _back_to_order(order_id: int):
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if not (target.startswith("/") and not parts.scheme and not parts.netloc):
        target = url_for("fulfilment_web.order", order_id=order_id)  # never redirect off the site
    return redirect(target)


@bp.get("/", endpoint="index")
@require_staff_page(*STAFF)
def index():
    locations = services.staff_locations(current_user)
    if len(locations) == 1:
        return redirect(url_for("fulfilment_web.hall", code=locations[0].code))
    counts = {loc.code: queries.section_counts(loc) for loc in locations}
    return render_template("fulfilment/index.html", locations=locations, counts=counts)


@bp.get("/<code>")
@require_staff_page(*STAFF)
def hall(code: str):
    location = services.location_for(current_user, code)
    counts = queries.section_counts(location)
    section = request.args.get("section")
    if section not in queries.SECTIONS:
        section = next(
            (s for s in ("to_ship", "awaiting_pickup", "attention", "waiting") if counts[s]), "to_ship"
        )
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = queries.section_page(location, section, page=page, per_page=PER_PAGE)
    return render_template(
        "fulfilment/hall.html",
        location=location,
        counts=counts,
        section=section,
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        couriers=COURIERS,
        courier_names=services.COURIER_NAMES,
        notices=for_locations([location.id], limit=10),
    )


@bp.get("/<code>/pick-list")
@require_staff_page(*STAFF)
def pick_list(code: str):
    location = services.location_for(current_user, code)
    return render_template(
        "fulfilment/pick_list.html", location=location, picks=queries.hall_pick_list(location)
    )


@bp.route("/<code>/handover", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def handover(code: str):
    """Step 1: type the buyer's code and see the order; step 2: confirm the hand-over."""
    location = services.location_for(current_user, code)
    ticket_code = (request.form.get("code") or "").strip()
    item = None
    if request.method == "POST":
        try:
            if request.form.get("confirm"):
                with atomic():
                    order = services.hand_over(location, ticket_code, staff=current_user)
                    number = order.number
                flash(_("Handed over: order %(n)s is complete.", n=number), "ok")
                return redirect(url_for("fulfilment_web.handover", code=code))
            item = queries.decorate([services.pickup_waiting(location, ticket_code, staff=current_user)])[0]
        except TooManyWrongCodes as err:
            flash(_("Too many wrong codes. Try again in %(s)s seconds.", s=err.extra["retry_after"]), "error")
        except PickupNotFound:
            flash(_("No pickup is waiting here with this code."), "error")
        except ShopError as err:
            _error(err)
    return render_template("fulfilment/handover.html", location=location, item=item, code=ticket_code)


@bp.get("/orders/<int:order_id>")
@require_staff_page(*STAFF)
def order(order_id: int):
    item = queries.decorate([services.order_for_staff(order_id, current_user)])[0]
    return render_template(
        "fulfilment/order.html", item=item, couriers=COURIERS, courier_names=services.COURIER_NAMES
    )


@bp.post("/orders/<int:order_id>/ship")
@require_staff_page(*STAFF)
def ship(order_id: int):
    form = request.form
    try:
        with atomic():
            services.order_for_staff(order_id, current_user)
            shipment = services.ship_order(
                order_id,
                staff=current_user,
                courier=form.get("courier", ""),
                tracking_number=form.get("tracking_number", ""),
                courier_note=form.get("courier_note", ""),
            )
            tracking = shipment.tracking_number
    except ShopError as err:
        _error(err)
    else:
        flash(_("Shipped with tracking number %(t)s.", t=tracking), "ok")
    return _back_to_order(order_id)


@bp.post("/orders/<int:order_id>/delivered")
@require_staff_page(*STAFF)
def delivered(order_id: int):
    try:
        with atomic():
            services.order_for_staff(order_id, current_user)
            services.mark_delivered(order_id, staff=current_user)
    except ShopError as err:
        _error(err)
    else:
        flash(_("Marked delivered: the order is complete."), "ok")
    return _back_to_order(order_id)


@bp.post("/orders/<int:order_id>/retry")
@require_staff_page(*STAFF)
def retry(order_id: int):
    try:
        with atomic():
            services.order_for_staff(order_id, current_user)
            services.retry_fulfilment(order_id, staff=current_user)
    except ShopError as err:
        _error(err)
    else:
        flash(_("Fulfilment queued again."), "ok")
    return _back_to_order(order_id)


# -- admin: queues and failures ----------------------------------------------------------------------


@bp.get("/queues")
@require_staff_page("admin")
def queues():
    open_rows = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.completed_at.is_(None))
            .order_by(OutboxMessage.failed_at.is_(None), OutboxMessage.id)
            .limit(50)
        )
    )
    failures = list(db.session.scalars(select(TaskFailure).order_by(TaskFailure.id.desc()).limit(30)))
    settings = current_app.extensions["settings"]
    return render_template(
        "fulfilment/queues.html",
        depths=outbox.queue_depths(),
        queue_names=outbox.QUEUES,
        stats=outbox.stats(),
        open_rows=open_rows,
        failures=failures,
        runs=sorted(last_runs().values(), key=lambda r: r.name),
        broker=settings.CELERY_BROKER_URL.split("@")[-1],
    )


@bp.post("/queues/outbox/<int:message_id>/requeue")
@require_staff_page("admin")
def requeue(message_id: int):
    if not requeue_message(message_id):
        abort(404)
    flash(_("Message %(id)s will be sent again.", id=message_id), "ok")
    return redirect(url_for("fulfilment_web.queues"))
