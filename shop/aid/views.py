"""Aid pages: the officers' dashboard, off-shop sales queue, work units, and the public progress page.

Charts are inline SVG drawn on the server (no CDN, no script, no style attributes: CSP forbids them);
their colours come from shop.css classes.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.accounts.auth import require_staff_page
from shop.aid import charity, exports, imports, offshop, programmes, reports
from shop.aid.api import export_response, rejected_csv_response
from shop.aid.errors import DuplicateCharityEvidence
from shop.aid.models import CHARITY_SKU, AidProgramme
from shop.aid.reports import CHANNEL_NAMES, DateRange
from shop.aid.schemas import charity_dict, offshop_dict
from shop.aid.services import current_programme
from shop.catalog.models import Location, Producer, Product, Variant
from shop.core import clock
from shop.core.db import atomic, db, reporting
from shop.core.errors import NotFound, ShopError
from shop.core.inputs import accepts_upload
from shop.producers.households import public_household_totals

bp = Blueprint("aid_web", __name__, url_prefix="/aid")

OFFICERS = ("aid_officer", "admin")
# The usual outside sales first; "online" is for partner e-commerce platforms.
FORM_CHANNELS = ("fair", "charity_sale", "subscription", "work_unit", "online")
CHART_WIDTH = 280  # SVG user units for the longest bar (the chart is 560 wide)


def _programme() -> AidProgramme:
    code = request.args.get("programme") or request.form.get("programme")
    if code:
        return programmes.get_programme(code)
    prog = current_programme()
    if prog is None:
        raise NotFound(_("No aid programme has been set up yet."))
    return prog


def _date_arg(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ShopError(_("Dates are written YYYY-MM-DD.")) from None


def _range(prog: AidProgramme) -> DateRange:
    try:
        return reports.resolve_range(prog, _date_arg("from"), _date_arg("to"))
    except ShopError as err:
        flash(err.detail, "error")
        return DateRange(prog.starts_on, prog.ends_on)


def hbars(items: list[dict], *, limit: int = 15) -> dict:
    """Lay out a horizontal bar chart: total (light) with its qualifying part (dark) over it."""
    items = items[:limit]
    top = max([i["total_fen"] for i in items] + [1])
    bars = []
    for n, item in enumerate(items):
        bars.append(
            {
                "item": item,
                "y": n * 30,
                "w_total": round(CHART_WIDTH * max(item["total_fen"], 0) / top, 1),
                "w_qual": round(
                    CHART_WIDTH * max(min(item["qualifying_fen"], item["total_fen"]), 0) / top, 1
                ),
            }
        )
    return {"bars": bars, "height": max(len(bars) * 30, 30)}


def columns(items: list[dict]) -> dict:
    """Lay out a column chart (months): 160 units tall, one 40-unit slot per item."""
    top = max([i["total_fen"] for i in items] + [1])
    cols = []
    for n, item in enumerate(items):
        h_total = round(160 * max(item["total_fen"], 0) / top, 1)
        h_qual = round(160 * max(min(item["qualifying_fen"], item["total_fen"]), 0) / top, 1)
        cols.append(
            {
                "item": item,
                "x": n * 40 + 6,
                "h_total": h_total,
                "h_qual": h_qual,
                "y_total": 170 - h_total,
                "y_qual": 170 - h_qual,
            }
        )
    return {"cols": cols, "width": max(len(cols) * 40 + 12, 120)}


@bp.get("/progress")
def progress():
    """Public: the programme's counted total and progress. No buyers, no producers, no personal data."""
    code = request.args.get("programme")
    prog = programmes.get_programme(code) if code else current_programme()
    data = reports.public_progress(prog) if prog else None
    return render_template(
        "aid/progress.html",
        data=data,
        programmes=programmes.list_programmes(),
        households=public_household_totals(prog),
    )


@bp.get("/")
@require_staff_page(*OFFICERS)
def dashboard():
    prog = _programme()
    rng = _range(prog)
    with reporting():
        totals = reports.programme_totals(prog, rng)
    charts = {
        "month": columns(totals["by_month"]),
        "channel": hbars(totals["by_channel"]),
        "category": hbars(totals["by_category"]),
        "township": hbars(totals["by_township"]),
        "producer": hbars(totals["by_producer"]),
        "location": hbars(totals["by_location"]),
        "platform": hbars(totals["by_platform"]),
        "certified": hbars(
            [
                {
                    "name": _("Certified"),
                    "name_en": "",
                    "total_fen": totals["qualifying_fen"],
                    "qualifying_fen": totals["qualifying_fen"],
                },
                {
                    "name": _("Not certified"),
                    "name_en": "",
                    "total_fen": totals["non_qualifying_fen"],
                    "qualifying_fen": 0,
                },
            ]
        ),
    }
    _rows, pending_count = offshop.list_offshop_sales(status="pending", page=1, per_page=1)
    return render_template(
        "aid/dashboard.html",
        programme=prog,
        programmes=programmes.list_programmes(),
        rng=rng,
        totals=totals,
        charts=charts,
        runs=reports.recent_runs(5),
        pending_count=pending_count,
        export_days=exports.MAX_DAYS,
    )


@bp.get("/export")
@require_staff_page(*OFFICERS)
def export():
    prog = _programme()
    fmt = request.args.get("format", "csv")
    if fmt not in exports.FORMATS:
        raise ShopError(_("Choose CSV or XLSX."))
    with reporting():
        req = exports.plan_export(prog, fmt=fmt, start=_date_arg("from"), end=_date_arg("to"))
        return export_response(req)


@bp.get("/work-units")
@require_staff_page(*OFFICERS)
def work_units():
    prog = _programme()
    rng = _range(prog)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with reporting():
        items, total = reports.work_unit_totals(prog, rng, page=page, per_page=50)
    return render_template(
        "aid/work_units.html",
        programme=prog,
        rng=rng,
        items=items,
        total=total,
        page=page,
        pages=max(1, (total + 49) // 50),
    )


def yuan_to_fen(text: str) -> int:
    """Parse an amount typed in yuan ("680", "680.5", "1,280.00") into fen, exactly; ValueError if not."""
    raw = text.strip().replace(",", "").replace("，", "")
    whole, _dot, frac = raw.partition(".")
    if not whole.isdigit() or len(frac) > 2 or (frac and not frac.isdigit()):
        raise ValueError(text)
    return int(whole) * 100 + int((frac + "00")[:2])


def _offshop_form_lines() -> list[offshop.OffshopLineInput]:
    lines = []
    for n in range(1, 4):
        sku = (request.form.get(f"sku_{n}") or "").strip()
        if not sku:
            continue
        try:
            quantity = int(request.form.get(f"quantity_{n}") or "0")
            amount = yuan_to_fen(request.form.get(f"amount_{n}") or "")
        except ValueError:
            raise ShopError(
                _("Line %(n)s: quantity is a whole number and amount is in yuan, e.g. 680.00", n=n)
            ) from None
        lines.append(offshop.OffshopLineInput(sku=sku, quantity=quantity, amount_fen=amount))
    return lines


@bp.route("/offshop", methods=["GET", "POST"])
@require_staff_page(*OFFICERS)
def offshop_sales():
    if request.method == "POST":
        try:
            sold_on = date.fromisoformat(request.form.get("sold_on") or "")
        except ValueError:
            flash(_("Dates are written YYYY-MM-DD."), "error")
        else:
            try:
                with atomic():
                    sale = offshop.record_offshop_sale(
                        current_user,
                        channel=request.form.get("channel", ""),
                        evidence_kind=request.form.get("evidence_kind", ""),
                        evidence_number=request.form.get("evidence_number", "")[:80],
                        sold_on=sold_on,
                        lines=_offshop_form_lines(),
                        location_code=request.form.get("location") or None,
                        buyer_name=request.form.get("buyer_name", "")[:200],
                        note=request.form.get("note", "")[:2000],
                    )
                    sale_id = sale.id
            except ShopError as err:
                flash(err.detail, "error")
            else:
                flash(
                    _("Recorded as no. %(id)s; it counts once another officer approves it.", id=sale_id), "ok"
                )
                return redirect(url_for("aid_web.offshop_sales"))
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "rejected", "voided"):
        status = "pending"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = offshop.list_offshop_sales(status=status, page=page, per_page=30)
    variants = db.session.execute(
        select(Variant, Product)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.sku != CHARITY_SKU)  # charity items are recorded on their own page
        .order_by(Product.producer_id, Variant.sku)
    ).all()
    return render_template(
        "aid/offshop.html",
        sales=[offshop_dict(s) for s in rows],
        status=status,
        total=total,
        page=page,
        pages=max(1, (total + 29) // 30),
        channels=[(c, CHANNEL_NAMES[c]) for c in FORM_CHANNELS],
        evidence_kinds=offshop.EVIDENCE_KINDS,
        variants=variants,
        locations=list(db.session.scalars(select(Location).order_by(Location.code))),
        today=clock.today(),
        form=request.form,
    )


@bp.post("/offshop/<int:sale_id>/<action>")
@require_staff_page(*OFFICERS)
def decide_offshop(sale_id: int, action: str):
    reason = request.form.get("reason", "")[:500]
    try:
        with atomic():
            if action == "approve":
                offshop.approve_offshop_sale(current_user, sale_id)
            elif action == "reject":
                offshop.reject_offshop_sale(current_user, sale_id, reason=reason)
            elif action == "void":
                offshop.void_offshop_sale(current_user, sale_id, reason=reason)
            else:
                raise NotFound(_("Unknown action."))
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Off-shop sale no. %(id)s: done.", id=sale_id), "ok")
    return redirect(url_for("aid_web.offshop_sales", status=request.args.get("status", "pending")))


# -- partner-platform imports ---------------------------------------------------------------------------


@bp.route("/imports", methods=["GET", "POST"])
@accepts_upload("AID_IMPORT_MAX_BYTES")
@require_staff_page(*OFFICERS)
def partner_imports():
    """Upload a platform's sales file; the list of imports with what each counted."""
    platform_code = request.values.get("platform") or None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose the platform's sales file (CSV or XLSX)."), "error")
        else:
            try:
                with atomic():
                    imp = imports.start_import(
                        current_user,
                        platform_code=request.form.get("platform", ""),
                        filename=upload.filename,
                        save_to=upload.save,
                    )
                    import_id = imp.id
            except ShopError as err:
                flash(err.detail, "error")
            else:
                return redirect(url_for("aid_web.partner_import", import_id=import_id))
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    try:
        rows, total = imports.list_imports(platform_code=platform_code, page=page, per_page=30)
    except ShopError:
        rows, total, platform_code = [], 0, None
    return render_template(
        "aid/imports.html",
        imports=[imports.import_dict(i, rejected_limit=0) for i in rows],
        platforms=imports.list_platforms(),
        platform=platform_code,
        total=total,
        page=page,
        pages=max(1, (total + 29) // 30),
        columns=imports.HEADERS,
    )


@bp.get("/imports/<int:import_id>")
@require_staff_page(*OFFICERS)
def partner_import(import_id: int):
    """One import: its progress while the task runs (the page reloads itself), then what it counted."""
    imp = imports.get_import(import_id)
    return render_template(
        "aid/import.html",
        imp=imports.import_dict(imp, rejected_limit=200),
        platform=imp.platform,
        running=imp.status in ("queued", "running"),
    )


@bp.get("/imports/<int:import_id>/rejected.csv")
@require_staff_page(*OFFICERS)
def partner_import_rejected(import_id: int):
    imports.get_import(import_id)
    return rejected_csv_response(import_id)


@bp.post("/imports/<int:import_id>/void")
@require_staff_page(*OFFICERS)
def void_partner_import(import_id: int):
    try:
        with atomic():
            imports.void_import(current_user, import_id, reason=request.form.get("reason", "")[:500])
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Import no. %(id)s voided: its entries are reversed.", id=import_id), "ok")
    return redirect(url_for("aid_web.partner_import", import_id=import_id))


# -- charity sales (义卖) of one-off items ---------------------------------------------------------------


def _charity_field_errors() -> dict[str, str]:
    """The service's field errors in the page's language (beside the field)."""
    return {
        "item": _("Name the item."),
        "amount_fen": _("An amount in yuan, e.g. 680.00"),
        "donated_fen": _("The donation is part of the amount paid: not negative and not more than it."),
        "producer": _("Unknown producer."),
        "evidence": _("The receipt or invoice number is required."),
        "evidence_kind": _("Choose the kind of evidence."),
        "sold_on": _("The date of sale must not be in the future and must fall within an aid programme."),
    }


@bp.route("/charity", methods=["GET", "POST"])
@require_staff_page(*OFFICERS)
def charity_sales():
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        sold_on = clock.today()
        try:
            sold_on = date.fromisoformat(form.get("sold_on") or "")
        except ValueError:
            errors["sold_on"] = _("Dates are written YYYY-MM-DD.")
        amounts = {}
        for field in ("amount", "donated"):
            try:
                amounts[field] = yuan_to_fen(form.get(field) or ("0" if field == "donated" else ""))
            except ValueError:
                errors[field] = _("An amount in yuan, e.g. 680.00")
        if not errors:
            try:
                with atomic():
                    sale = charity.record_charity_sale(
                        current_user,
                        item=form.get("item", "")[:200],
                        amount_fen=amounts["amount"],
                        donated_fen=amounts["donated"],
                        sold_on=sold_on,
                        evidence=form.get("evidence", "")[:80],
                        evidence_kind=form.get("evidence_kind", "receipt"),
                        producer_code=form.get("producer") or None,
                        cause=form.get("cause", "")[:200],
                        buyer=form.get("buyer", "")[:200],
                        note=form.get("note", "")[:2000],
                    )
                    sale_id = sale.id
            except ShopError as err:
                known = _charity_field_errors()
                for item in getattr(err, "errors", None) or []:
                    errors[item["field"]] = known.get(item["field"], item["message"])
                if errors:
                    flash(_("Please correct the fields marked below."), "error")
                elif isinstance(err, DuplicateCharityEvidence):
                    errors["evidence"] = _("This evidence number is already recorded; it cannot count twice.")
                    flash(errors["evidence"], "error")
                else:
                    flash(err.detail, "error")
            else:
                flash(
                    _("Recorded as no. %(id)s; it counts once another officer approves it.", id=sale_id), "ok"
                )
                return redirect(url_for("aid_web.charity_sales"))
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "rejected", "voided"):
        status = "pending"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = charity.list_charity_sales(status=status, page=page, per_page=30)
    return render_template(
        "aid/charity.html",
        sales=[charity_dict(s) for s in rows],
        status=status,
        total=total,
        page=page,
        pages=max(1, (total + 29) // 30),
        producers=list(
            db.session.scalars(select(Producer).where(Producer.active.is_(True)).order_by(Producer.code))
        ),
        today=clock.today(),
        form=request.form,
        errors=errors,
    ), (422 if errors else 200)


@bp.post("/charity/<int:sale_id>/<action>")
@require_staff_page(*OFFICERS)
def decide_charity(sale_id: int, action: str):
    reason = request.form.get("reason", "")[:500]
    try:
        with atomic():
            if action == "approve":
                charity.approve_charity_sale(current_user, sale_id)
            elif action == "reject":
                charity.reject_charity_sale(current_user, sale_id, reason=reason)
            elif action == "void":
                charity.void_charity_sale(current_user, sale_id, reason=reason)
            else:
                raise NotFound(_("Unknown action."))
    except ShopError as err:
        flash(err.detail, "error")
    else:
        flash(_("Charity sale no. %(id)s: done.", id=sale_id), "ok")
    return redirect(url_for("aid_web.charity_sales", status=request.args.get("status", "pending")))
