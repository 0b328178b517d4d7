"""The hall operator's console (tablet-first pages, Chinese first): stock, counter sales, receiving,
transfers, adjustments, counts, alerts and the movement history. Thin: parse, one service, render;
every form goes through ``_submit`` (one unit of work, refusals flashed next to the form)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar
from uuid import uuid4

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.accounts.auth import ensure_location_access, require_staff_page
from shop.catalog.models import Variant
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.inventory import adjustments, queries, sales, transfers
from shop.inventory.models import MOVEMENT_KINDS, PAYMENT_METHODS, StockCount

bp = Blueprint("console", __name__, url_prefix="/console")
STAFF = ("operator", "admin")
PER_PAGE = 50
T = TypeVar("T")


class FormError(ShopError):
    status = 422
    slug = "bad-form"
    title = "Invalid form"


def _int(name: str, *, default: int | None = None, minimum: int | None = None) -> int | None:
    raw = (request.form.get(name) or request.args.get(name) or "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FormError(_("Please enter a whole number.")) from None
    if minimum is not None and value < minimum:
        raise FormError(_("Please enter a whole number of at least %(n)d.", n=minimum))
    return value


def _date(name: str) -> date | None:
    raw = (request.form.get(name) or request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FormError(_("Please enter a date as YYYY-MM-DD.")) from None


def _location(code: str):
    return queries.location_for(current_user, code)


def _submit(work: Callable[[], T], *, done: str | Callable[[T], str], then: Callable[[T], Any]) -> Any | None:
    """Run one form: ``work()`` parses it and calls one use case, in one unit of work.

    Success flashes ``done`` and returns ``then(result)`` (a redirect). A refusal (a form error or the
    use case's) is flashed and gives None: the caller shows the form again with what was entered, 422
    (or goes back where it came from). A refusal the use case keeps on record (an over-receipt) is
    committed by the unit of work before it is flashed. ``work`` returns what ``done`` and ``then``
    need: ids, not objects, which expire at the commit.
    """
    try:
        with atomic():
            result = work()
    except ShopError as err:
        flash(err.detail, "error")
        return None
    flash(done(result) if callable(done) else done, "ok")
    return then(result)


def _entered_quantities(entered: dict[str, int]) -> list[dict[str, Any]]:
    """The ``qty-<sku>`` fields of the form as lines (into ``entered``, kept for showing the form again)."""
    for key, value in request.form.items():
        if key.startswith("qty-") and value.strip():
            qty = _int(key, minimum=0)
            if qty:
                entered[key.removeprefix("qty-")] = qty
    if not entered:
        raise FormError(_("Enter a quantity for at least one product."))
    return [{"sku": sku, "quantity": qty} for sku, qty in entered.items()]


def _text(name: str, limit: int) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def _render(template: str, location, status: int = 200, **ctx):
    return (
        render_template(
            template, location=location, my_locations=queries.user_locations(current_user), **ctx
        ),
        status,
    )


@bp.get("/")
@require_staff_page(*STAFF)
def index():
    locations = queries.user_locations(current_user)
    if len(locations) == 1:
        return redirect(url_for("console.stock", code=locations[0].code))
    return render_template("console/index.html", locations=locations)


@bp.get("/<code>/")
@require_staff_page(*STAFF)
def stock(code: str):
    location = _location(code)
    page = max(_int("page", default=1) or 1, 1)
    rows, total = queries.location_stock(location, page=page, per_page=100)
    return _render("console/stock.html", location, rows=rows, total=total, page=page, today=clock.today())


# -- counter sale ----------------------------------------------------------------------------------


def _sellable_rows(location):
    rows, _total = queries.location_stock(location, per_page=100)
    return [r for r in rows if r.level.available - r.expired > 0 and r.variant.active]


@bp.route("/<code>/sale", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def sale(code: str):
    location = _location(code)
    client_sale_id = request.form.get("client_sale_id") or uuid4().hex
    entered: dict[str, int] = {}
    if request.method == "POST":

        def record() -> tuple[int, bool]:
            lines = _entered_quantities(entered)
            paid_with = request.form.get("paid_with", "")
            if paid_with not in PAYMENT_METHODS:
                raise FormError(_("Choose how the customer paid."))
            result = sales.record_counter_sale(
                location,
                client_sale_id=client_sale_id,
                lines=queries.items_for(lines, lambda v, ln: (v, ln["quantity"])),
                paid_with=paid_with,
                actor=current_user,
                card_code=request.form.get("card_code", "").strip() if paid_with == "pickup_card" else None,
            )
            return result.sale.id, result.created

        done = _submit(
            record,
            done=lambda r: _("Sale recorded.") if r[1] else _("This sale was already recorded."),
            then=lambda r: redirect(url_for("console.sale_detail", code=location.code, sale_id=r[0])),
        )
        if done is not None:
            return done
        return _render(
            "console/sale.html",
            location,
            422,
            rows=_sellable_rows(location),
            client_sale_id=client_sale_id,
            entered=entered,
            paid_with=request.form.get("paid_with", ""),
            methods=PAYMENT_METHODS,
        )
    return _render(
        "console/sale.html",
        location,
        rows=_sellable_rows(location),
        client_sale_id=client_sale_id,
        entered=entered,
        paid_with="",
        methods=PAYMENT_METHODS,
    )


@bp.get("/<code>/sales/<int:sale_id>")
@require_staff_page(*STAFF)
def sale_detail(code: str, sale_id: int):
    location = _location(code)
    found = queries.get_sale(location, sale_id)
    return _render("console/sale_detail.html", location, sale=found, lots=queries.sale_lots(found))


@bp.get("/<code>/sales")
@require_staff_page(*STAFF)
def sales_list(code: str):
    location = _location(code)
    day = _date("date") or clock.today()
    rows, total = page_of(queries.sale_query(location, on=day), page=1, per_page=500)
    by_method: dict[str, int] = {}
    for row in rows:
        by_method[row.paid_with] = by_method.get(row.paid_with, 0) + row.total_fen
    return _render(
        "console/sales.html",
        location,
        sales=rows,
        total=total,
        day=day,
        by_method=by_method,
        total_fen=sum(by_method.values()),
    )


# -- receiving -------------------------------------------------------------------------------------


@bp.route("/<code>/receive", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def receive(code: str):
    location = _location(code)
    status = 200
    if request.method == "POST":

        def receive_goods() -> None:
            quantity = _int("quantity", minimum=1)
            if quantity is None:
                raise FormError(_("Enter the quantity received."))
            item = transfers.ReceiptItem(
                queries.variant_by_sku(request.form.get("sku", "")),
                quantity,
                lot_code=_text("lot", 40) or None,
                harvested_on=_date("harvested_on"),
                best_before=_date("best_before"),
            )
            transfers.receive_goods(
                location,
                [item],
                actor=current_user,
                reference=_text("reference", 60),
                note=_text("note", 500),
            )

        done = _submit(
            receive_goods,
            done=_("Goods received."),
            then=lambda _r: redirect(url_for("console.receive", code=location.code)),
        )
        if done is not None:
            return done
        status = 422
    incoming, _n = page_of(
        queries.transfer_query(location, direction="in", status="open"), page=1, per_page=100
    )
    return _render(
        "console/receive.html",
        location,
        status,
        incoming=incoming,
        variants=_all_variants(),
        form=request.form,
    )


def _all_variants():
    return list(db.session.scalars(select(Variant).where(Variant.active.is_(True)).order_by(Variant.sku)))


@bp.route("/transfers/<int:transfer_id>", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def transfer(transfer_id: int):
    found = queries.get_transfer(transfer_id)
    queries.ensure_transfer_access(current_user, found)
    status = 200
    if request.method == "POST":
        ensure_location_access(current_user, found.to_location)

        def receive_transfer() -> None:
            items = []
            for line in found.lines:
                received = _int(f"received-{line.id}", default=0, minimum=0)
                damaged = _int(f"damaged-{line.id}", default=0, minimum=0)
                if received or damaged:
                    items.append(
                        transfers.ReceiveItem(line.variant, received, damaged=damaged, lot_code=line.lot_code)
                    )
            final = request.form.get("final") == "1"
            transfers.receive_transfer(found, items, actor=current_user, final=final, note=_text("note", 500))

        done = _submit(
            receive_transfer,
            done=_("Receipt recorded."),
            then=lambda _r: redirect(url_for("console.transfer", transfer_id=transfer_id)),
        )
        if done is not None:
            return done
        status = 422
        found = queries.get_transfer(transfer_id)
    return (
        render_template(
            "console/transfer.html",
            transfer=found,
            can_receive=found.open and current_user.can_act_at(found.to_location),
            can_cancel=found.cancellable and current_user.can_act_at(found.from_location),
            location=found.to_location if current_user.can_act_at(found.to_location) else found.from_location,
            my_locations=queries.user_locations(current_user),
        ),
        status,
    )


@bp.post("/transfers/<int:transfer_id>/cancel")
@require_staff_page(*STAFF)
def cancel_transfer(transfer_id: int):
    found = queries.get_transfer(transfer_id)
    ensure_location_access(current_user, found.from_location)
    _submit(
        lambda: transfers.cancel_transfer(found, actor=current_user),
        done=_("Transfer cancelled; the goods are back in stock."),
        then=lambda _r: None,
    )
    return redirect(url_for("console.transfer", transfer_id=transfer_id))


@bp.route("/<code>/transfer", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def new_transfer(code: str):
    location = _location(code)
    entered: dict[str, int] = {}
    status = 200
    if request.method == "POST":

        def send() -> int:
            lines = _entered_quantities(entered)
            destination = queries.location_by_code(request.form.get("to", ""), field_name="to")
            sent = transfers.send_transfer(
                location,
                destination,
                queries.items_for(lines, lambda v, ln: transfers.SendItem(v, ln["quantity"])),
                actor=current_user,
                note=_text("note", 500),
                reference=_text("reference", 80),
            )
            return sent.id

        done = _submit(
            send,
            done=_("Sent. The goods are in transit until the destination receives them."),
            then=lambda sent_id: redirect(url_for("console.transfer", transfer_id=sent_id)),
        )
        if done is not None:
            return done
        status = 422
    outgoing, _n = page_of(queries.transfer_query(location, direction="out"), page=1, per_page=20)
    destinations = [
        loc for loc in queries.user_locations_all() if loc.id != location.id and loc.kind != "transit"
    ]
    return _render(
        "console/new_transfer.html",
        location,
        status,
        rows=_sellable_rows(location),
        destinations=destinations,
        entered=entered,
        outgoing=outgoing,
        form=request.form,
    )


# -- adjustments, counts, alerts, history ----------------------------------------------------------


@bp.route("/<code>/adjust", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def adjust(code: str):
    location = _location(code)
    status = 200
    if request.method == "POST":

        def adjust_stock() -> None:
            quantity = _int("quantity", minimum=1)
            if quantity is None:
                raise FormError(_("Enter the quantity."))
            sign = -1 if request.form.get("direction") == "remove" else 1
            adjustments.adjust_stock(
                location,
                queries.variant_by_sku(request.form.get("sku", "")),
                sign * quantity,
                reason=request.form.get("reason", ""),
                actor=current_user,
                note=_text("note", 500),
                lot_code=_text("lot", 40) or None,
                best_before=_date("best_before"),
            )

        done = _submit(
            adjust_stock,
            done=_("Adjustment recorded."),
            then=lambda _r: redirect(url_for("console.stock", code=location.code)),
        )
        if done is not None:
            return done
        status = 422
    rows, _total = queries.location_stock(location, per_page=100)
    return _render(
        "console/adjust.html",
        location,
        status,
        rows=rows,
        variants=_all_variants(),
        reasons=list(adjustments.ADJUSTMENT_REASONS),
        form=request.form,
    )


@bp.route("/<code>/count", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def count(code: str):
    location = _location(code)
    rows, _total = queries.location_stock(location, per_page=100)
    status = 200
    if request.method == "POST":

        def record_count() -> int:
            items = []
            for row in rows:
                for lot in row.lots:
                    counted = _int(f"lot-{lot.id}", minimum=0)
                    if counted is not None:
                        items.append(adjustments.CountItem(row.variant, counted, lot.code))
                if not row.lots:
                    counted = _int(f"sku-{row.variant.sku}", minimum=0)
                    if counted is not None:
                        items.append(adjustments.CountItem(row.variant, counted))
            if not items:
                raise FormError(_("Enter at least one counted quantity."))
            return adjustments.record_count(location, items, actor=current_user, note=_text("note", 500)).id

        done = _submit(
            record_count,
            done=_("Count recorded."),
            then=lambda count_id: redirect(
                url_for("console.count_result", code=location.code, count_id=count_id)
            ),
        )
        if done is not None:
            return done
        status = 422
    return _render("console/count.html", location, status, rows=rows, form=request.form)


@bp.get("/<code>/counts/<int:count_id>")
@require_staff_page(*STAFF)
def count_result(code: str, count_id: int):
    location = _location(code)
    found = db.session.get(StockCount, count_id)
    if found is None or found.location_id != location.id:
        abort(404)
    return _render("console/count_result.html", location, count=found)


@bp.route("/<code>/alerts", methods=["GET", "POST"])
@require_staff_page(*STAFF)
def alerts(code: str):
    location = _location(code)
    if request.method == "POST":

        def set_threshold() -> None:
            threshold = _int("threshold", minimum=0)
            variant = queries.variant_by_sku(request.form.get("sku", ""))
            adjustments.set_low_stock_threshold(location, variant, threshold, actor=current_user)

        _submit(set_threshold, done=_("Threshold saved."), then=lambda _r: None)
        return redirect(url_for("console.alerts", code=location.code))
    days = min(max(_int("days", default=7) or 0, 0), 365)
    today = clock.today()
    return _render(
        "console/alerts.html",
        location,
        low=queries.low_stock(location),
        expiring=queries.expiring_lots(location, within_days=days, on=today),
        days=days,
        today=today,
    )


@bp.get("/<code>/movements")
@require_staff_page(*STAFF)
def movements(code: str):
    location = _location(code)
    page = max(_int("page", default=1) or 1, 1)
    kind = request.args.get("kind") or None
    if kind not in (None, *MOVEMENT_KINDS):
        kind = None
    since, until = _date("since"), _date("until")
    filters = {
        "kind": kind,
        "sku": (request.args.get("sku") or "").strip() or None,
        "lot": (request.args.get("lot") or "").strip() or None,
        "reference": (request.args.get("reference") or "").strip() or None,
    }
    stmt = queries.movement_query(
        location,
        **filters,
        since=clock.day_start(since) if since else None,
        until=clock.day_start(until + timedelta(days=1)) if until else None,
    )
    rows, total = page_of(stmt, page=page, per_page=PER_PAGE)
    args = {k: v for k, v in {**filters, "since": since, "until": until}.items() if v}
    return _render(
        "console/movements.html",
        location,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
        emails=queries.actor_emails({m.actor_id for m in rows}),
        kinds=MOVEMENT_KINDS,
        filters=filters,
        since=since,
        until=until,
        args=args,
    )
