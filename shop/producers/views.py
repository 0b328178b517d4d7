"""The producer portal (Chinese first, made for a phone): this month's sales, stock of their goods,
consignments, statements and payouts, linked households. A producer account sees only its producer.
"""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from shop.accounts.auth import require_staff_page
from shop.catalog.models import Producer
from shop.core.db import atomic, db
from shop.core.errors import NotFound, ShopError
from shop.producers import documents, households, portal, settlement
from shop.producers.errors import InvalidPayout, PayoutAlreadyRecorded, StatementState
from shop.producers.models import Household, HouseholdIncome

bp = Blueprint("producer_portal", __name__, url_prefix="/producer")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _producer() -> Producer:
    producer = db.session.get(Producer, current_user.producer_id) if current_user.producer_id else None
    if producer is None:
        raise NotFound("this account is not bound to a producer")
    return producer


def _statement(period: str):
    producer = _producer()
    return producer, settlement.get_statement(period, producer.code)


@bp.route("/")
@require_staff_page("producer")
def home():
    producer = _producer()
    statements = db.session.scalars(settlement.statements_of_producer(producer.id).limit(24)).all()
    linked = db.session.scalar(select(func.count(Household.id)).where(Household.producer_id == producer.id))
    return render_template(
        "producers/home.html",
        producer=producer,
        sales=portal.month_sales(producer.id),
        stock=portal.stock(producer.id),
        consignments=portal.consignments(producer.id),
        statements=statements,
        linked=linked,
        channels=documents.CHANNEL_ZH,
    )


@bp.route("/statements/<period>")
@require_staff_page("producer")
def statement(period: str):
    producer, st = _statement(period)
    return render_template(
        "producers/statement.html",
        producer=producer,
        st=st,
        lines=settlement.statement_lines(st),
        channels=documents.CHANNEL_ZH,
    )


@bp.route("/statements/<period>/pdf")
@require_staff_page("producer")
def statement_pdf(period: str):
    producer, st = _statement(period)
    return send_file(
        io.BytesIO(documents.statement_pdf(st)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"statement-{producer.code}-{st.period}.pdf",
    )


@bp.route("/statements/<period>/xlsx")
@require_staff_page("producer")
def statement_xlsx(period: str):
    producer, st = _statement(period)
    return send_file(
        io.BytesIO(documents.statement_xlsx(st)),
        mimetype=XLSX,
        as_attachment=True,
        download_name=f"statement-{producer.code}-{st.period}.xlsx",
    )


def _errors(err: ShopError) -> dict[str, str]:
    found = {e["field"]: e["message"] for e in (err.errors or [])}
    return found or {"_": err.detail}


def _households_page(producer: Producer, errors: dict | None = None, status: int = 200):
    rows = db.session.scalars(households.households_of(producer.id).limit(500)).all()
    income = db.session.scalars(
        select(HouseholdIncome)
        .where(HouseholdIncome.producer_id == producer.id)
        .order_by(HouseholdIncome.on_day.desc(), HouseholdIncome.id.desc())
        .limit(50)
    ).all()
    return (
        render_template(
            "producers/households.html",
            producer=producer,
            households=rows,
            income=income,
            errors=errors or {},
            form=request.form,
        ),
        status,
    )


@bp.route("/households", methods=["GET", "POST"])
@require_staff_page("producer")
def households_page():
    producer = _producer()
    if request.method == "GET":
        return _households_page(producer)
    action = request.form.get("action")
    try:
        with atomic():
            if action == "household":
                members = request.form.get("members", "").strip()
                households.add_household(
                    producer,
                    ref=request.form.get("ref", ""),
                    village=request.form.get("village", ""),
                    members=int(members) if members.isdigit() else -1,
                    actor=current_user,
                )
                flash(_("Household added."))
            else:
                raw = (request.form.get("amount") or "").strip()
                whole, _dot, frac = raw.partition(".")
                ok = whole.isdigit() and (not frac or (frac.isdigit() and len(frac) <= 2))
                try:
                    on = date.fromisoformat(request.form.get("on", ""))
                except ValueError:
                    on = date(1900, 1, 1)
                households.record_income(
                    producer,
                    household_ref=request.form.get("household", ""),
                    kind=request.form.get("kind", ""),
                    amount_fen=int(whole) * 100 + int((frac + "00")[:2]) if ok else -1,
                    on=on,
                    actor=current_user,
                )
                flash(_("Income recorded."))
    except ShopError as err:
        return _households_page(producer, _errors(err), err.status)
    return redirect(url_for("producer_portal.households_page"))


# -- admins: run a month, approve statements, record payouts ---------------------------------------------

admin_bp = Blueprint("settlement_admin", __name__, url_prefix="/admin/settlements")


def _admin_page(period: str, errors: dict | None = None, status: int = 200):
    try:
        settlement.parse_period(period)
        statements = settlement.statements_of_period(period)
    except ShopError as err:
        errors, statements = {**(errors or {}), "period": err.detail}, []
    producers = {p.id: p for p in db.session.scalars(select(Producer))}
    return (
        render_template(
            "producers/admin_settlements.html",
            period=period,
            statements=statements,
            producers=producers,
            errors=errors or {},
        ),
        status,
    )


def _this_period() -> str:
    from_args = (request.values.get("period") or "").strip()
    return from_args or settlement.previous_period()


@admin_bp.route("/")
@require_staff_page("admin", "aid_officer")
def settlements():
    return _admin_page(_this_period())


@admin_bp.post("/run")
@require_staff_page("admin")
def run():
    period = _this_period()
    try:
        settlement.run_settlement(period, trigger=f"admin:{current_user.id}")
    except ShopError as err:
        return _admin_page(period, _errors(err), err.status)
    flash(_("Settlement run for %(period)s.", period=period))
    return redirect(url_for("settlement_admin.settlements", period=period))


@admin_bp.post("/<period>/<producer>/approve")
@require_staff_page("admin")
def approve(period: str, producer: str):
    try:
        with atomic():
            settlement.approve_statement(period, producer, actor=current_user)
    except ShopError as err:
        return _admin_page(period, {producer: _say(err)}, err.status)
    return redirect(url_for("settlement_admin.settlements", period=period))


def _say(err: ShopError) -> str:
    """The refusal in the page's language."""
    if isinstance(err, PayoutAlreadyRecorded):
        return _("The payout of this statement is already recorded.")
    if isinstance(err, InvalidPayout):
        return _("Enter the bank's reference (letters, digits, - _ / . :).")
    if isinstance(err, StatementState):
        return _("Not possible now: approve a draft first; a payout needs something payable.")
    return err.detail


@admin_bp.post("/<period>/<producer>/paid")
@require_staff_page("admin")
def paid(period: str, producer: str):
    try:
        with atomic():
            settlement.record_payout(
                period, producer, reference=request.form.get("reference", ""), actor=current_user
            )
    except ShopError as err:
        return _admin_page(period, {producer: _say(err)}, err.status)
    return redirect(url_for("settlement_admin.settlements", period=period))


@admin_bp.get("/<period>/<producer>/pdf")
@require_staff_page("admin", "aid_officer")
def admin_pdf(period: str, producer: str):
    st = settlement.get_statement(period, producer)
    return send_file(
        io.BytesIO(documents.statement_pdf(st)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"statement-{producer}-{period}.pdf",
    )


@admin_bp.get("/<period>/<producer>/xlsx")
@require_staff_page("admin", "aid_officer")
def admin_xlsx(period: str, producer: str):
    st = settlement.get_statement(period, producer)
    return send_file(
        io.BytesIO(documents.statement_xlsx(st)),
        mimetype=XLSX,
        as_attachment=True,
        download_name=f"statement-{producer}-{period}.xlsx",
    )
