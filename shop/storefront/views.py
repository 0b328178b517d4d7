"""Buyer pages beside the catalogue and orders: hall or delivery choice, address book, QR codes, short
links, the favicon and a return request. Thin: parse, call one use case, render or redirect."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from shop.accounts.landing import safe_path
from shop.catalog import services as catalog
from shop.catalog.errors import ProductNotFound
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.orders import cart
from shop.orders import services as orders
from shop.orders.services import TIANJIN_DISTRICTS
from shop.returns import services as returns
from shop.storefront import services
from shop.storefront.messages import field_errors

bp = Blueprint("storefront", __name__)

SVG = "image/svg+xml"


def _back(default: str) -> str:
    return safe_path(request.form.get("next") or request.args.get("next")) or default


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on every page: answer with the shop's icon, not a 404."""
    resp = send_from_directory(current_app.static_folder, "favicon.svg", mimetype=SVG, max_age=86400)
    return resp


@bp.post("/delivery-choice")
def choose_delivery():
    """Remember the hall (or delivery) the buyer wants; the product page, cart and checkout follow it."""
    choice = services.choose_delivery(session, request.form.get("choice", ""))
    if choice is None:
        flash(_("Please choose a hall or delivery."), "error")
    return redirect(_back(url_for("catalog.home")))


# -- QR codes and short links -----------------------------------------------------------------------


def _svg(data: bytes, *, private: bool = False):
    resp = current_app.response_class(data, mimetype=SVG)
    resp.headers["Cache-Control"] = "private, no-store" if private else "public, max-age=3600"
    return resp


@bp.get("/orders/<int:order_id>/pickup-qr.svg")
@login_required
def pickup_qr(order_id: int):
    """The pickup code as a QR code, for the buyer of the order only."""
    order = orders.order_for_viewer(order_id, current_user)
    if order.user_id != current_user.id:
        abort(404)
    fulfilment = orders.order_details(order).fulfilment or {}
    code = fulfilment.get("code")
    if fulfilment.get("kind") != "pickup" or not code:
        abort(404)
    return _svg(services.qr_svg(code, scale=8), private=True)


@bp.get("/qr.svg")
def page_qr():
    """A QR code of a page of this shop (``?path=/p/12``), to share into a chat group or print."""
    path = safe_path(request.args.get("path", ""))
    if path is None or len(path) > 200:
        abort(404)
    base = current_app.extensions["settings"].PUBLIC_BASE_URL.rstrip("/")
    return _svg(services.qr_svg(base + path))


@bp.get("/p/<int:product_id>")
def short_product(product_id: int):
    """A short link that survives being typed from a poster: /p/12 -> the product's page."""
    try:
        product = catalog.get_product(product_id)
    except ProductNotFound:
        abort(404)
    return redirect(url_for("catalog.product", slug=product.slug), 301)


@bp.get("/go")
def short_progress():
    """/go: the programme's public progress page, for posters and share cards."""
    return redirect(url_for("aid_web.progress"), 301)


# -- address book -----------------------------------------------------------------------------------


@bp.route("/account/addresses", methods=["GET", "POST"])
@login_required
def addresses():
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with atomic():
                services.save_address(
                    current_user,
                    label=form.get("label", ""),
                    recipient=form.get("recipient", ""),
                    phone=form.get("phone", ""),
                    district=form.get("district", ""),
                    street_address=form.get("street_address", ""),
                    make_default=bool(form.get("make_default")),
                )
        except ShopError as err:
            errors = field_errors(err)
        else:
            flash(_("Address saved."), "ok")
            return redirect(_back(url_for("storefront.addresses")))
    return render_template(
        "storefront/addresses.html",
        addresses=services.addresses(current_user),
        districts=TIANJIN_DISTRICTS,
        form=form,
        errors=errors,
        next=safe_path(request.args.get("next") or form.get("next")) or "",
    ), (422 if errors else 200)


@bp.post("/account/addresses/<int:address_id>/default")
@login_required
def address_default(address_id: int):
    try:
        with atomic():
            services.set_default(current_user, address_id)
    except ShopError:
        abort(404)
    return redirect(url_for("storefront.addresses"))


@bp.post("/account/addresses/<int:address_id>/delete")
@login_required
def address_delete(address_id: int):
    try:
        with atomic():
            services.delete_address(current_user, address_id)
    except ShopError:
        abort(404)
    flash(_("Address removed."), "ok")
    return redirect(url_for("storefront.addresses"))


# -- return request ---------------------------------------------------------------------------------


@bp.post("/orders/<int:order_id>/return")
@login_required
def return_request(order_id: int):
    """The buyer asks for a refund of a damaged or wrong item; staff of the hall approve or decline."""
    order = orders.order_for_viewer(order_id, current_user)
    if order.user_id != current_user.id:
        abort(404)
    reason = request.form.get("reason", "")
    if reason not in ("damaged", "wrong_item", "other"):
        flash(_("Please say what is wrong with the item."), "error")
        return redirect(url_for("orders_web.order_page", order_id=order_id) + "#return")
    try:
        with atomic():
            returns.request_refund(
                order_id, buyer=current_user, reason=reason, note=request.form.get("note", "")[:500]
            )
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Your return request was sent to the hall; staff will answer soon."), "ok")
    return redirect(url_for("orders_web.order_page", order_id=order_id))


@bp.get("/me")
def me():
    """The "me" tab: sign in or register, or the buyer's orders, addresses and language."""
    return render_template(
        "storefront/me.html",
        addresses=services.addresses(current_user) if current_user.is_authenticated else [],
    )


@bp.app_context_processor
def _cart_badge():
    # The tab bar's badge: units in the session cart (no query).
    return {"cart_count": cart.count(session)}


@bp.app_template_global("aid_story")
def _aid_story():
    """This programme year's total, producers reached and households linked (the progress page's story)."""
    return services.aid_story()
