"""Order pages: cart, checkout, order confirmation and my orders; staff pages to confirm manual payments
and issue refunds. Thin: parse the form, call one service in one unit of work, render or redirect."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from shop.accounts.auth import require_staff_page
from shop.catalog.services import list_locations
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.core.limits import limit_orders
from shop.inventory.errors import InsufficientStock
from shop.orders import cart, services
from shop.orders.models import STATUSES
from shop.orders.services import TIANJIN_DISTRICTS
from shop.payments import queries as payment_queries
from shop.payments import services as payments
from shop.payments.errors import InvalidRefund
from shop.returns import services as returns
from shop.storefront import services as storefront
from shop.storefront.messages import field_errors

bp = Blueprint("orders_web", __name__)


def _back(default: str) -> str:
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not parts.scheme and not parts.netloc:
        return target
    return default


def _flash_error(err: ShopError) -> None:
    flash(err.detail, "error")


# -- cart -------------------------------------------------------------------------------------------


@bp.get("/cart", endpoint="cart")
def cart_page():
    lines = cart.lines(session)
    choice = storefront.delivery_choice(session)
    here = storefront.availability_for((line.variant.id for line in lines), choice)
    return render_template(
        "orders/cart.html",
        lines=lines,
        subtotal=sum(line.line_total_fen for line in lines),
        choice=choice,
        here=here,
        halls=_halls(),
    )


@bp.post("/cart/add")
def cart_add():
    try:
        variant = cart.add(session, request.form.get("sku", ""), request.form.get("quantity", "1"))
    except ShopError as err:
        _flash_error(err)
    else:
        flash(_("Added to your cart: %(name)s", name=variant.name_zh if _is_zh() else variant.name_en), "ok")
    return redirect(_back(url_for("orders_web.cart")))


@bp.post("/cart/update")
def cart_update():
    try:
        for key, value in request.form.items():
            if key.startswith("qty-"):
                cart.set_quantity(session, key.removeprefix("qty-"), value)
        if request.form.get("remove"):
            cart.remove(session, request.form["remove"])
    except ShopError as err:
        _flash_error(err)
    return redirect(url_for("orders_web.cart"))


def _is_zh() -> bool:
    return str(get_locale() or "zh") == "zh"


# -- checkout ---------------------------------------------------------------------------------------


def _halls():
    return [loc for loc in list_locations(on=clock.today()) if loc.pickup]


def _checkout_errors(err: ShopError) -> dict[str, str]:
    """The problem as messages beside the fields, in the page's language."""
    if isinstance(err, InsufficientStock):
        sku = err.extra.get("sku") or ""
        return {
            "lines": _(
                "Not enough %(sku)s where you chose to get it. Lower the quantity or choose another hall.",
                sku=sku,
            )
        }
    return field_errors(err)


@bp.route("/checkout", methods=["GET", "POST"])
@login_required
@limit_orders
def checkout():
    lines = cart.lines(session)
    form = request.form
    errors: dict[str, str] = {}
    book = storefront.addresses(current_user)
    choice = storefront.delivery_choice(session)
    if request.method == "POST":
        token = form.get("checkout_token", "")
        done = session.get("checkout_done") or {}
        if token and token in done:  # the same form submitted twice: show the order it made
            return redirect(url_for("orders_web.order_page", order_id=done[token]))
        if not lines:
            flash(_("Your cart is empty."), "error")
            return redirect(url_for("orders_web.cart"))
        delivery_type = form.get("delivery_type", "")
        location = form.get("location") or None
        storefront.choose_delivery(session, location if delivery_type == "pickup" else delivery_type)
        saved = next((a for a in book if str(a.id) == form.get("address_id")), None)
        delivery = services.DeliveryRequest(
            type=delivery_type,
            location=location,
            recipient=saved.recipient if saved else form.get("recipient", ""),
            phone=saved.phone if saved else form.get("phone", ""),
            district=saved.district if saved else form.get("district", ""),
            street_address=saved.street_address if saved else form.get("street_address", ""),
            note=form.get("note", ""),
        )
        if delivery_type not in ("pickup", "ship"):
            errors = {"delivery_type": _("Please choose pickup or delivery.")}
        else:
            try:
                with atomic():
                    order = services.place_order(current_user, cart.as_requests(session), delivery)
                    order_id = order.id
            except ShopError as err:
                errors = _checkout_errors(err)
            else:
                cart.clear(session)
                session["checkout_done"] = {token: order_id}
                flash(_("Order placed. Please pay before the reservation runs out."), "ok")
                return redirect(url_for("orders_web.order_page", order_id=order_id))
    choice = storefront.delivery_choice(session)
    default_address = next((a for a in book if a.is_default), None)
    resp = render_template(
        "orders/checkout.html",
        lines=lines,
        subtotal=sum(line.line_total_fen for line in lines),
        halls=_halls(),
        districts=TIANJIN_DISTRICTS,
        form=form,
        errors=errors,
        choice=choice,
        here=storefront.availability_for((line.variant.id for line in lines), choice),
        book=book,
        default_address=default_address,
        counted_fen=sum(
            line.line_total_fen
            for line in lines
            if line.variant.product.producer.certificate_on(clock.today())
        ),
        checkout_token=secrets.token_urlsafe(16),
        gateway=current_app.extensions["settings"].PAYMENT_GATEWAY,
        free_from=services.FREE_SHIPPING_FROM_FEN,
        shipping_fee=services.SHIPPING_FEE_FEN,
    )
    return resp, (422 if errors else 200)


# -- the buyer's orders -----------------------------------------------------------------------------


@bp.get("/orders")
@login_required
def my_orders():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = page_of(services.orders_query(current_user, mine_only=True), page=page, per_page=20)
    return render_template(
        "orders/my_orders.html", orders=rows, total=total, page=page, pages=max(1, -(-total // 20))
    )


@bp.get("/orders/<int:order_id>")
@login_required
def order_page(order_id: int):
    order = services.order_for_viewer(order_id, current_user)
    details = services.order_details(order)
    fulfilment = details.fulfilment
    if fulfilment and order.user_id != current_user.id:
        # The pickup code is the buyer's proof at the counter.
        fulfilment = {k: v for k, v in fulfilment.items() if k != "code"}
    return render_template(
        "orders/order.html",
        order=order,
        payment=details.payment,
        refunds=details.refunds,
        notices=services.notices_for(order),
        fulfilment=fulfilment,
        refund_request=returns.latest_request(order),
        returning_from_stripe=bool(request.args.get("payment_intent")),
        steps=storefront.timeline(order, details.fulfilment),
        bank=_bank(),
        pickup_qr=url_for("storefront.pickup_qr", order_id=order.id)
        if fulfilment and fulfilment.get("kind") == "pickup" and fulfilment.get("code")
        else None,
    )


def _bank() -> dict:
    settings = current_app.extensions["settings"]
    return {
        "name": settings.BANK_ACCOUNT_NAME,
        "bank": settings.BANK_NAME,
        "number": settings.BANK_ACCOUNT_NUMBER,
    }


@bp.post("/orders/<int:order_id>/cancel")
@login_required
def cancel(order_id: int):
    services.order_for_viewer(order_id, current_user)
    try:
        with atomic():
            done = returns.cancel_order(order_id, actor=current_user, reason="cancelled by the buyer")
    except ShopError as err:
        _flash_error(err)
    else:
        if done.request is not None:
            flash(_("Your cancellation was sent to the hall; you are refunded once staff approve it."), "ok")
        else:
            flash(_("The order is cancelled."), "ok")
    return redirect(url_for("orders_web.order_page", order_id=order_id))


@bp.get("/orders/<int:order_id>/pay")
@login_required
def pay(order_id: int):
    """Stripe's Payment Element for an online order (card, Alipay, WeChat Pay)."""
    order = services.order_for_viewer(order_id, current_user)
    try:
        client_secret = payments.start_online_payment(order, current_user).client_secret
    except ShopError as err:
        _flash_error(err)
        return redirect(url_for("orders_web.order_page", order_id=order_id))
    settings = current_app.extensions["settings"]
    # Stripe.js may only come from js.stripe.com, so it is loaded in production only; nothing outside the
    # shop is loaded in tests or on the embedded default.
    load_stripe = settings.SHOP_PROFILE == "production"
    resp = current_app.make_response(
        render_template(
            "orders/pay.html",
            order=order,
            client_secret=client_secret,
            publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            load_stripe=load_stripe,
            return_url=f"{settings.PUBLIC_BASE_URL.rstrip('/')}{url_for('orders_web.order_page', order_id=order.id)}",
        )
    )
    if load_stripe:
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: https://*.stripe.com; style-src 'self'; "
            "script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; "
            "connect-src 'self' https://api.stripe.com; frame-ancestors 'none'; form-action 'self'"
        )
    return resp


# -- staff ------------------------------------------------------------------------------------------


@bp.get("/staff/orders")
@require_staff_page("operator", "admin")
def staff_orders():
    status = request.args.get("status") or None
    if status not in STATUSES:
        status = None
    attention = True if request.args.get("attention") else None
    number = (request.args.get("number") or "").strip()
    if number:
        try:
            order = services.order_by_number(number)
        except ShopError:
            flash(_("No order with that number."), "error")
        else:
            return redirect(url_for("orders_web.staff_order", order_id=order.id))
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    stmt = services.orders_query(current_user, mine_only=False, status=status, attention=attention)
    rows, total = page_of(stmt, page=page, per_page=30)
    return render_template(
        "orders/staff_orders.html",
        orders=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // 30)),
        status=status,
        attention=attention,
        statuses=STATUSES,
    )


@bp.get("/staff/orders/<int:order_id>")
@require_staff_page("operator", "admin")
def staff_order(order_id: int):
    order = services.order_for_viewer(order_id, current_user)
    if not current_user.can_act_at(order.location):
        abort(404)
    details = services.order_details(order)
    return render_template(
        "orders/staff_order.html",
        order=order,
        payment=details.payment,
        payments=payment_queries.payments_of(order),
        refunds=details.refunds,
        methods=payments.MANUAL_METHODS,
        refund_request=returns.latest_request(order),
        locations=[loc for loc in current_user.locations]
        if current_user.role != "admin"
        else list_locations(),
    )


@bp.post("/staff/orders/<int:order_id>/confirm-payment")
@require_staff_page("operator", "admin")
def staff_confirm_payment(order_id: int):
    amount = request.form.get("amount_yuan", "").strip()
    try:
        amount_fen = _fen(amount) if amount else None
        with atomic():
            payments.confirm_manual_payment(
                order_id,
                staff=current_user,
                method=request.form.get("method", ""),
                amount_fen=amount_fen,
                reference=request.form.get("reference", ""),
            )
    except ShopError as err:
        _flash_error(err)
    else:
        flash(_("Payment confirmed: the order is paid."), "ok")
    return redirect(url_for("orders_web.staff_order", order_id=order_id))


@bp.post("/staff/orders/<int:order_id>/refund")
@require_staff_page("operator", "admin")
def staff_refund(order_id: int):
    form = request.form
    try:
        amount = form.get("amount_yuan", "").strip()
        lines = []
        for key, value in form.items():
            if key.startswith("refund-qty-") and value.strip() not in ("", "0"):
                lines.append({"sku": key.removeprefix("refund-qty-"), "quantity": _int(value)})
        with atomic():
            returns.refund_order(
                order_id,
                staff=current_user,
                reason=form.get("reason", "").strip() or "refund by staff",
                amount_fen=_fen(amount) if amount else None,
                lines=lines or None,
                restock_location=form.get("restock_location") or None,
            )
    except ShopError as err:
        _flash_error(err)
    else:
        flash(_("Refund recorded and sent."), "ok")
    return redirect(url_for("orders_web.staff_order", order_id=order_id))


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidRefund(f"{value!r} is not a whole number") from None


def _fen(yuan: str) -> int:
    """Parse a yuan amount typed by staff ("68", "68.5", "68.50") into fen without floats."""
    text = yuan.replace("¥", "").replace(",", "").strip()
    whole, _sep, frac = text.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise InvalidRefund(f"{yuan!r} is not an amount in yuan")
    return int(whole) * 100 + int((frac + "00")[:2])
