"""The installable hall counter under /counter (session sign-in, tablet first, Chinese first).

One page per hall (``/counter/<code>/``) sells from what the tablet stored at its last sync; the
service worker at ``/counter/sw.js`` (its scope is all of /counter/) serves that page with no network.
The page's script keeps each sale in IndexedDB first and replays the queue to ``/counter/<code>/sync``,
which records every sale on its own exactly as the API's batch endpoint does. The day report, count
sheet and sign-off are ordinary pages (they need the server).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from shop.accounts.auth import require_staff_page
from shop.core import clock
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.counter import services
from shop.inventory import queries
from shop.inventory.api import record_sale_batch

bp = Blueprint("counter", __name__, url_prefix="/counter")
STAFF = ("operator", "admin")
MAX_BATCH = 200
STATIC = Path(__file__).resolve().parent.parent / "static" / "counter"


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _problem(status: int, detail: str) -> Response:
    resp = jsonify({"status": status, "title": "Invalid input", "detail": detail})
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


@bp.get("/")
@require_staff_page(*STAFF)
def index():
    locations = queries.user_locations(current_user)
    if len(locations) == 1:
        return redirect(url_for("counter.app", code=locations[0].code))
    return render_template("counter/index.html", locations=locations)


@bp.get("/<code>/")
@require_staff_page(*STAFF)
def app(code: str):
    location = queries.location_for(current_user, code)
    return render_template("counter/app.html", location=location, i18n=_strings())


@bp.get("/<code>/snapshot.json")
@require_staff_page(*STAFF)
def snapshot(code: str):
    """The hall's catalogue, prices, stock and today's sales for the tablet, with a fresh CSRF token."""
    location = queries.location_for(current_user, code)
    body = services.snapshot(location)
    body["csrf_token"] = generate_csrf()
    return _no_store(jsonify(body))


@bp.post("/<code>/sync")
@require_staff_page(*STAFF)
def sync(code: str):
    """Replay the tablet's queue, oldest first: each sale recorded (or found again) on its own.

    Answers like ``POST /api/v1/locations/{code}/sales/batch``: one result per sale with the status
    the single endpoint would give (201, 200 for a replay, 4xx with a problem).
    """
    location = queries.location_for(current_user, code)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("sales"), list):
        return _problem(422, "send {sales: [...]} as JSON")
    if not 1 <= len(data["sales"]) <= MAX_BATCH:
        return _problem(422, f"send 1 to {MAX_BATCH} sales at a time")
    user = current_user._get_current_object()
    return _no_store(jsonify(record_sale_batch(location, data["sales"], user)))


def _day_arg() -> date:
    raw = (request.values.get("date") or "").strip()
    if not raw:
        return clock.today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return clock.today()


@bp.route("/<code>/day", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def day(code: str):
    """The day report (by pay method, by product), the count sheet and the operator's sign-off."""
    location = queries.location_for(current_user, code)
    on = _day_arg()
    status = 200
    if request.method == "POST":
        if not request.form.get("checked"):
            flash(_("Tick the box to confirm you checked the report and the count."), "error")
            status = 422
        else:
            try:
                with atomic():
                    _signoff, created = services.sign_off_day(
                        location, on, actor=current_user, note=request.form.get("note", "")
                    )
            except ShopError as err:
                flash(err.detail, "error")
                status = 422
            else:
                flash(_("Day signed off.") if created else _("This day was already signed off."), "ok")
                return redirect(url_for("counter.day", code=location.code, date=on.isoformat()))
    report = services.day_report(location, on)
    rows, _total = queries.location_stock(location, per_page=500)
    return (
        render_template(
            "counter/day.html", location=location, report=report, rows=rows, prev_day=on - timedelta(days=1)
        ),
        status,
    )


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from /counter/ so that its scope covers every console page."""
    resp = current_app.response_class((STATIC / "sw.js").read_text(), mimetype="text/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/manifest.webmanifest")
def manifest():
    body = {
        "name": _("Gangu hall counter"),
        "short_name": _("Hall counter"),
        "start_url": url_for("counter.index"),
        "scope": url_for("counter.index"),
        "display": "standalone",
        "orientation": "landscape",
        "background_color": "#ffffff",
        "theme_color": "#b3261e",
        "lang": "zh-CN",
        "icons": [
            {
                "src": url_for("static", filename="counter/icon-192.png"),
                "sizes": "192x192",
                "type": "image/png",
            },
            {
                "src": url_for("static", filename="counter/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
            },
        ],
    }
    resp = jsonify(body)
    resp.mimetype = "application/manifest+json"
    return resp


def _strings() -> dict[str, str]:
    """The words the page's script shows, in the page's language."""
    return {
        "online": _("Online"),
        "offline": _("Offline: sales are kept on this tablet"),
        "waiting": _("%(n)s sales waiting since %(t)s"),
        "none_waiting": _("All sales sent"),
        "as_of": _("Stock as of %(t)s"),
        "no_snapshot": _("No catalogue on this tablet yet: connect once to load it."),
        "empty_cart": _("Tap a product to start a sale."),
        "choose_pay": _("Choose how the buyer pays."),
        "card_code": _("Pickup card code"),
        "need_card": _("Enter the pickup card's code."),
        "over_stock": _("More than the last known stock: the server may refuse this sale."),
        "recorded": _("Sale kept on this tablet"),
        "synced": _("Sale recorded"),
        "refused": _("Refused"),
        "task_dismiss": _("Done: goods and money returned"),
        "task_retry": _("Send again"),
        "sign_in": _("Your sign-in has ended: sign in again to send the waiting sales."),
        "no_match": _("No product with this code."),
        "receipt_title": _("Receipt"),
        "beijing_time": _("Beijing time"),
        "aid_wording": _(
            "This purchase of Gangu products counts toward Dongli District's consumption aid for Gangu County."
        ),
        "total": _("Total"),
        "print": _("Print receipt"),
        "new_sale": _("New sale"),
        "waiting_tag": _("waiting"),
        "camera": _("Camera scan"),
        "needs_network": _("This page needs the network; the counter sale works offline."),
        "pay_wechat": _("WeChat Pay"),
        "pay_alipay": _("Alipay"),
        "pay_cash": _("Cash"),
        "pay_card": _("Bank card"),
        "pay_pickup_card": _("Pickup card"),
        # Why the server refused a sale (by the problem's type), shown on the task in the page's language.
        "why_insufficient-stock": _("Not enough stock at the hall"),
        "why_lot-expired": _("Only expired lots are left"),
        "why_location-closed": _("The hall does not sell on that day"),
        "why_client-sale-id-reused": _("This sale id was already used for another sale"),
        "why_validation-failed": _("The sale is not valid"),
        "why_card-not-found": _("No such pickup card"),
        "why_card-expired": _("The pickup card has expired"),
        "why_card-balance-short": _("The pickup card's balance does not cover the amount"),
    }
