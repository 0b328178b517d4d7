"""Work-unit pages, Chinese first: unit registration and the unit's own pages (phone and PC), the
order page's card, account and invoice forms, and the officers' pages (PC): units, verification, quotas,
account, card batches and the invoice queue.

Thin: parse the form, call one use case in one unit of work, render; a refusal is shown next to its
field in the page's language.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from shop.accounts import sessions
from shop.accounts.auth import require_staff_page
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import atomic, db, reporting
from shop.core.errors import NotFound, ShopError
from shop.orders.models import Order
from shop.payments.queries import counted_payment
from shop.workunits import account, bulk, invoices, pickup_cards, quotas, services
from shop.workunits.errors import InvalidUnitData, NotUnitManager
from shop.workunits.models import UNIT_TYPE_NAMES, UNIT_TYPES, WorkUnit
from shop.workunits.standing import membership, unit_of

bp = Blueprint("workunits_web", __name__)
OFFICERS = ("aid_officer", "admin")


def _errors(err: ShopError) -> dict[str, str]:
    """Field -> message for the page (the detail under ``_`` when no field is named)."""
    found = {e["field"]: e["message"] for e in (err.errors or [])}
    return found or {"_": err.detail}


def _int(name: str) -> int | None:
    raw = (request.form.get(name) or "").strip().replace(",", "")
    try:
        return int(raw)
    except ValueError:
        return None


def _fen(name: str) -> int | None:
    """A yuan amount typed in a form (``680``, ``680.5``) as fen; None when it is not one."""
    raw = (request.form.get(name) or "").strip().replace(",", "").replace("，", "")
    whole, _dot, frac = raw.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        return None
    return int(whole) * 100 + int((frac + "00")[:2])


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat((request.form.get(name) or "").strip())
    except ValueError:
        return None


@bp.app_context_processor
def _helpers() -> dict:
    """What the order page asks of work units: the order's invoice, whether its buyer may pay on account."""

    def order_invoice(order_id: int):
        return invoices.invoice_for_order(order_id)

    def may_pay_on_account(user_id: int) -> bool:
        unit = unit_of(user_id)
        return bool(unit and unit.verified)

    def paid_with_card(order) -> bool:
        payment = counted_payment(order) if order.paid_at else None
        return bool(payment and payment.gateway == "pickup_card")

    return {
        "order_invoice": order_invoice,
        "may_pay_on_account": may_pay_on_account,
        "paid_with_card": paid_with_card,
        "unit_type_names": UNIT_TYPE_NAMES,
    }


# -- registration and the unit's own pages -----------------------------------------------------------


@bp.route("/work-units/register", methods=["GET", "POST"])
def register():
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with atomic():
                user = services.register_unit(
                    services.UnitRegistration(
                        email=form.get("email", "").strip(),
                        password=form.get("password", ""),
                        name=form.get("name", "").strip(),
                        invoice_title=form.get("invoice_title", "").strip(),
                        tax_id=form.get("tax_id", ""),
                        unit_type=form.get("unit_type", ""),
                        contact_name=form.get("contact_name", "").strip(),
                        contact_phone=form.get("contact_phone", "").strip(),
                    )
                )
        except ShopError as err:
            errors = _errors(err)
        else:
            sessions.begin(user)
            flash(_("Your unit is registered. An aid officer will verify it."), "ok")
            return redirect(url_for("workunits_web.home"))
    return render_template(
        "workunits/register.html", form=form, errors=errors, unit_types=UNIT_TYPES
    ), 422 if errors else 200


def _my_unit() -> WorkUnit:
    unit = unit_of(current_user.id)
    if unit is None:
        raise NotFound(_("This account does not buy for a work unit."))
    return unit


def _is_manager() -> bool:
    member = membership(current_user.id)
    return bool(member and member.role == "manager")


@bp.get("/work-units/me")
@login_required
def home():
    unit = _my_unit()
    year = clock.today().year
    return render_template(
        "workunits/home.html",
        unit=unit,
        manager=_is_manager(),
        quota=quotas.unit_progress(unit.account_id, year=year),
        status=account.account_status(unit),
        history=services.history(unit),
        bulks=bulk.bulk_orders(unit.id, limit=10),
        batches=pickup_cards.batches(unit=unit, limit=20),
    )


@bp.route("/work-units/me/bulk", methods=["GET", "POST"])
@login_required
def bulk_upload():
    unit = _my_unit()
    errors: list[dict] = []
    detail = ""
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors = [{"field": "file", "message": _("Choose a CSV or XLSX file.")}]
        else:
            try:
                with atomic():
                    result = bulk.place_bulk_order(current_user, filename=upload.filename, data=upload.read())
            except ShopError as err:
                errors, detail = err.errors or [], err.detail
            else:
                flash(_("%(n)s orders placed and charged to the unit's account.", n=len(result.orders)), "ok")
                return redirect(url_for("workunits_web.home"))
    return render_template(
        "workunits/bulk.html", unit=unit, errors=errors, detail=detail
    ), 422 if errors or detail else 200


@bp.get("/work-units/me/statement")
@login_required
def statement():
    unit = _my_unit()
    if not _is_manager():
        raise NotUnitManager(_("Only the unit's manager sees its account."))
    month_text = request.args.get("month") or clock.today().strftime("%Y-%m")
    try:
        month = account.parse_month(month_text)
    except ShopError:
        month = clock.month_start(clock.today())
    return render_template("workunits/statement.html", unit=unit, st=account.statement(unit, month))


@bp.route("/work-units/me/buyers", methods=["GET", "POST"])
@login_required
def buyers():
    unit = _my_unit()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with atomic():
                services.add_buyer(
                    unit.account_id,
                    email=request.form.get("email", "").strip(),
                    name=request.form.get("name", "").strip(),
                    password=request.form.get("password", ""),
                    actor=current_user,
                )
        except ShopError as err:
            errors = _errors(err)
        else:
            flash(_("The buyer can sign in now."), "ok")
            return redirect(url_for("workunits_web.buyers"))
    services.ensure_can_manage(unit, current_user)
    return render_template(
        "workunits/buyers.html", unit=unit, members=services.members(unit), errors=errors, form=request.form
    ), 422 if errors else 200


@bp.get("/work-units/me/orders")
@login_required
def unit_orders():
    unit = _my_unit()
    services.ensure_can_manage(unit, current_user)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = page_of(services.unit_orders_query(unit), page=page, per_page=50)
    return render_template(
        "workunits/orders.html",
        unit=unit,
        orders=rows,
        total=total,
        page=page,
        pages=max(1, (total + 49) // 50),
    )


# -- the order page's forms ------------------------------------------------------------------------


def _back_to_order(order_id: int):
    return redirect(url_for("orders_web.order_page", order_id=order_id))


@bp.post("/orders/<int:order_id>/pay-card")
@login_required
def pay_card(order_id: int):
    try:
        with atomic():
            pickup_cards.pay_order_with_card(order_id, code=request.form.get("code", ""), buyer=current_user)
    except ShopError as err:
        flash(_("The card could not pay: %(why)s", why=_(err.title)), "error")
    else:
        flash(_("Paid with the pickup card. Thank you!"), "ok")
    return _back_to_order(order_id)


@bp.post("/orders/<int:order_id>/pay-account")
@login_required
def pay_account(order_id: int):
    try:
        with atomic():
            account.pay_order_on_account(order_id, buyer=current_user)
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Charged to the unit's account; pay by bank transfer within the terms."), "ok")
    return _back_to_order(order_id)


@bp.post("/orders/<int:order_id>/invoice")
@login_required
def invoice_request(order_id: int):
    f = request.form
    try:
        with atomic():
            invoices.request_invoice(
                order_id,
                invoices.InvoiceRequest(
                    kind=f.get("kind", ""),
                    title=f.get("title", ""),
                    tax_id=f.get("tax_id", ""),
                    email=f.get("email", ""),
                    bank_name=f.get("bank_name", ""),
                    bank_account=f.get("bank_account", ""),
                    address=f.get("address", ""),
                    phone=f.get("phone", ""),
                ),
                buyer=current_user,
            )
    except ShopError as err:
        for field, message in _errors(err).items():
            flash(f"{_(field) if field != '_' else ''} {_(message)}".strip(), "error")
    else:
        flash(_("Invoice requested. We will tell you when it is issued."), "ok")
    return _back_to_order(order_id)


@bp.get("/invoices/<int:invoice_id>/pdf")
@login_required
def invoice_pdf(invoice_id: int):
    inv = invoices.get_invoice(invoice_id)
    path = invoices.pdf_path(inv)
    if not invoices.can_read(inv, current_user) or path is None or not path.exists():
        raise NotFound(_("No PDF for this invoice."))
    return send_file(
        path, mimetype="application/pdf", as_attachment=True, download_name=f"fapiao-{inv.number}.pdf"
    )


# -- officers --------------------------------------------------------------------------------------


@bp.get("/staff/work-units")
@require_staff_page(*OFFICERS)
def staff_units():
    verification = request.args.get("verification") or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = page_of(
        services.units_query(verification=verification, q=request.args.get("q", "")), page=page, per_page=50
    )
    return render_template(
        "workunits/staff_units.html",
        units=rows,
        total=total,
        page=page,
        pages=max(1, (total + 49) // 50),
        verification=verification,
        counts=services.counts_by_verification(),
        overdue=account.overdue_units(),
    )


@bp.get("/staff/work-units/quotas")
@require_staff_page(*OFFICERS)
def staff_quotas():
    year = request.args.get("year", clock.today().year, type=int) or clock.today().year
    sort = request.args.get("sort", "progress")
    order = request.args.get("order", "asc")
    rows = quotas.all_units(
        year=max(2000, min(year, 2100)),
        sort=sort if sort in quotas.SORTS else "progress",
        descending=order == "desc",
    )
    return render_template("workunits/staff_quotas.html", rows=rows, year=year, sort=sort, order=order)


@bp.get("/staff/work-units/quotas.xlsx")
@require_staff_page(*OFFICERS)
def staff_quotas_export():
    year = max(2000, min(request.args.get("year", clock.today().year, type=int) or clock.today().year, 2100))
    sort = request.args.get("sort", "progress")
    with reporting():  # a report: read on the replica when there is one (shop.core.db)
        rows = quotas.all_units(
            year=year,
            sort=sort if sort in quotas.SORTS else "progress",
            descending=request.args.get("order") == "desc",
        )
    return send_file(
        quotas.export_xlsx(rows, year=year),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"work-unit-quotas-{year}.xlsx",
    )


def _staff_unit_page(unit: WorkUnit, *, errors=None, codes=None, status: int = 200):
    year = clock.today().year
    return render_template(
        "workunits/staff_unit.html",
        unit=unit,
        history=services.history(unit),
        same=services.same_code_units(unit),
        quota=quotas.unit_progress(unit.account_id, year=year),
        status=account.account_status(unit),
        batches=pickup_cards.batches(unit=unit, limit=20),
        errors=errors or {},
        codes=codes,
        today=clock.today(),
    ), status


@bp.get("/staff/work-units/<int:user_id>")
@require_staff_page(*OFFICERS)
def staff_unit(user_id: int):
    return _staff_unit_page(services.get_unit(user_id))


@bp.post("/staff/work-units/<int:user_id>/<action>")
@require_staff_page(*OFFICERS)
def staff_unit_action(user_id: int, action: str):
    f = request.form
    codes = None
    try:
        with atomic():
            if action == "verify":
                services.verify_unit(user_id, note=f.get("note", ""), actor=current_user)
            elif action == "reject":
                services.reject_unit(user_id, reason=f.get("note", ""), actor=current_user)
            elif action == "quota":
                amount = _fen("amount")
                if amount is None:
                    raise InvalidUnitData(
                        "amount", errors=[{"field": "amount", "message": "an amount in yuan"}]
                    )
                quotas.set_quota(
                    user_id, year=_int("year") or clock.today().year, amount_fen=amount, actor=current_user
                )
            elif action == "terms":
                services.set_terms(
                    user_id, days=_int("days") if _int("days") is not None else -1, actor=current_user
                )
            elif action == "transfer":
                account.record_transfer(
                    user_id,
                    amount_fen=_fen("amount") or 0,
                    reference=f.get("reference", ""),
                    received_on=_date("received_on"),
                    actor=current_user,
                )
            elif action == "cards" and current_user.role == "admin":
                issued = pickup_cards.issue_batch(
                    user_id,
                    count=_int("count") or 0,
                    value_fen=_fen("value") or 0,
                    expires_on=_date("expires_on") or clock.today(),
                    actor=current_user,
                )
                codes = issued.codes
            else:
                raise NotFound(_("No such action."))
    except ShopError as err:
        return _staff_unit_page(services.get_unit(user_id), errors={action: _errors(err)}, status=422)
    if codes is not None:
        # The codes are shown on this page once: they are not stored and cannot be shown again.
        resp = _staff_unit_page(services.get_unit(user_id), codes=codes)
        return resp[0], 200, {"Cache-Control": "no-store"}
    flash(_("Saved."), "ok")
    return redirect(url_for("workunits_web.staff_unit", user_id=user_id))


@bp.get("/staff/invoices")
@require_staff_page(*OFFICERS)
def staff_invoices():
    status = request.args.get("status") or "requested"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = page_of(invoices.queue_query(status), page=page, per_page=50)
    numbers = dict(
        db.session.execute(
            select(Order.id, Order.number).where(Order.id.in_([i.order_id for i in rows]))
        ).all()
    )
    return render_template(
        "workunits/staff_invoices.html",
        invoices=rows,
        numbers=numbers,
        red={i.id: invoices.needs_red_letter(i) for i in rows},
        status=status,
        total=total,
        page=page,
        pages=max(1, (total + 49) // 50),
    )


@bp.post("/staff/invoices/<int:invoice_id>/<action>")
@require_staff_page(*OFFICERS)
def staff_invoice_action(invoice_id: int, action: str):
    upload = request.files.get("file")
    data = upload.read() if upload and upload.filename else None
    try:
        with atomic():
            if action == "issue":
                invoices.issue_invoice(
                    invoice_id, number=request.form.get("number", ""), staff=current_user, pdf=data
                )
            elif action == "pdf" and data:
                invoices.attach_pdf(invoice_id, data=data, staff=current_user)
            elif action == "red-letter":
                invoices.record_red_letter(
                    invoice_id, number=request.form.get("number", ""), staff=current_user
                )
            else:
                raise NotFound(_("No such action."))
    except ShopError as err:
        for message in _errors(err).values():
            flash(_(message), "error")
    else:
        flash(_("Saved."), "ok")
    return redirect(url_for("workunits_web.staff_invoices", status=request.args.get("status", "requested")))
