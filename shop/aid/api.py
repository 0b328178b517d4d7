"""Aid programmes, totals, exports, off-shop sales and reconciliation runs under /api/v1/aid.

Public: the programme list and detail, and each programme's progress (counted total only). Everything
else is for aid officers and administrators (401 without a token, 403 for other roles).
"""

from __future__ import annotations

from flask import Response, send_file
from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.aid import exports, offshop, programmes, reports
from shop.aid.schemas import (
    ExportArgs,
    OffshopArgs,
    OffshopCreateSchema,
    OffshopPageSchema,
    OffshopSaleSchema,
    ProgrammeCreateSchema,
    ProgrammeListSchema,
    ProgrammeSchema,
    ProgrammeUpdateSchema,
    ProgressSchema,
    RangeArgs,
    ReasonSchema,
    RunPageSchema,
    TotalsSchema,
    WorkUnitArgs,
    WorkUnitPageSchema,
    offshop_dict,
    programme_dict,
)
from shop.core.db import atomic
from shop.core.idempotency import idempotent

blp = Blueprint("aid_api", __name__, url_prefix="/api/v1/aid", description="Aid programmes and totals")

OFFICERS = ("aid_officer", "admin")
SECURED = [{"bearerAuth": []}]


@blp.route("/programmes", methods=["GET"])
@blp.response(200, ProgrammeListSchema)
def list_programmes():
    """List the aid programmes (public)."""
    return {"items": [programme_dict(p) for p in programmes.list_programmes()]}


@blp.route("/programmes", methods=["POST"])
@idempotent
@require_role(*OFFICERS)
@blp.arguments(ProgrammeCreateSchema)
@blp.response(201, ProgrammeSchema)
@blp.doc(security=SECURED)
def create_programme(data: dict):
    """Create a programme with its target and optional targets per channel and per hall (officers)."""
    with atomic():
        prog = programmes.create_programme(
            code=data["code"],
            name_zh=data["name"],
            name_en=data["name_en"],
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            target_fen=data["target_fen"],
            channel_targets=data["channel_targets"],
            location_targets=data["location_targets"],
            township_targets=data["township_targets"],
            note=data["note"],
            actor=api_user(),
        )
        return programme_dict(prog)


@blp.route("/programmes/<code>", methods=["GET"])
@blp.response(200, ProgrammeSchema)
def get_programme(code: str):
    """One programme with its sub-targets (public)."""
    return programme_dict(programmes.get_programme(code))


@blp.route("/programmes/<code>", methods=["PATCH"])
@require_role(*OFFICERS)
@blp.arguments(ProgrammeUpdateSchema)
@blp.response(200, ProgrammeSchema)
@blp.doc(security=SECURED)
def update_programme(data: dict, code: str):
    """Change a programme's names, target or sub-targets; its period is fixed (officers)."""
    with atomic():
        prog = programmes.update_programme(
            code,
            name_zh=data.get("name"),
            name_en=data.get("name_en"),
            target_fen=data.get("target_fen"),
            channel_targets=data.get("channel_targets"),
            location_targets=data.get("location_targets"),
            township_targets=data.get("township_targets"),
            note=data.get("note"),
            actor=api_user(),
        )
        return programme_dict(prog)


@blp.route("/programmes/<code>/progress")
@blp.response(200, ProgressSchema)
def progress(code: str):
    """The programme's counted total and progress against its target (public, no personal data)."""
    return reports.public_progress(programmes.get_programme(code))


@blp.route("/programmes/<code>/totals")
@require_role(*OFFICERS)
@blp.arguments(RangeArgs, location="query")
@blp.response(200, TotalsSchema)
@blp.doc(security=SECURED)
def totals(args: dict, code: str):
    """Totals and every breakdown for a date range within the programme (officers).

    ``total_fen`` is every recorded aid sale net of refunds; ``qualifying_fen`` the certified part, which
    alone counts: ``progress = qualifying_fen / target_fen``; ``direct_purchase_fen + helped_sales_fen =
    qualifying_fen``.
    """
    prog = programmes.get_programme(code)
    rng = reports.resolve_range(prog, args["start"], args["end"])
    return reports.programme_totals(prog, rng)


@blp.route("/programmes/<code>/export")
@require_role(*OFFICERS)
@blp.arguments(ExportArgs, location="query")
@blp.doc(security=SECURED, responses={"200": {"description": "CSV or XLSX file"}})
def export(args: dict, code: str):
    """Download the ledger for a date range as CSV or XLSX with Chinese headers (officers)."""
    prog = programmes.get_programme(code)
    req = exports.plan_export(prog, fmt=args["format"], start=args["start"], end=args["end"])
    return export_response(req)


def export_response(req: exports.ExportRequest) -> Response:
    """Stream a CSV, or send an XLSX built in a temporary file (shared with the dashboard's button)."""
    if req.format == "csv":
        resp = Response(exports.csv_stream(req), mimetype="text/csv")
        resp.headers["Content-Disposition"] = f'attachment; filename="{req.filename}"'
        resp.headers["Content-Type"] = "text/csv; charset=utf-8"
        return resp
    return send_file(
        exports.write_xlsx(req),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=req.filename,
    )


@blp.route("/programmes/<code>/work-units")
@require_role(*OFFICERS)
@blp.arguments(WorkUnitArgs, location="query")
@blp.response(200, WorkUnitPageSchema)
@blp.doc(security=SECURED)
def work_units(args: dict, code: str):
    """Registered work units and their direct purchases in the range, biggest first (officers)."""
    prog = programmes.get_programme(code)
    rng = reports.resolve_range(prog, args["start"], args["end"])
    items, total = reports.work_unit_totals(prog, rng, page=args["page"], per_page=args["per_page"])
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/offshop-sales", methods=["POST"])
@idempotent
@require_role(*OFFICERS)
@blp.arguments(OffshopCreateSchema)
@blp.response(201, OffshopSaleSchema)
@blp.doc(security=SECURED)
def record_offshop(data: dict):
    """Record a sale made outside the shop with its evidence; it counts once a second officer approves."""
    with atomic():
        sale = offshop.record_offshop_sale(
            api_user(),
            channel=data["channel"],
            evidence_kind=data["evidence_kind"],
            evidence_number=data["evidence_number"],
            sold_on=data["sold_on"],
            lines=[offshop.OffshopLineInput(**line) for line in data["lines"]],
            location_code=data["location"],
            buyer_name=data["buyer_name"],
            work_unit_id=data["work_unit_id"],
            note=data["note"],
        )
        return offshop_dict(sale)


@blp.route("/offshop-sales", methods=["GET"])
@require_role(*OFFICERS)
@blp.arguments(OffshopArgs, location="query")
@blp.response(200, OffshopPageSchema)
@blp.doc(security=SECURED)
def list_offshop(args: dict):
    """Off-shop sales, newest first; ``status=pending`` is the approval queue (officers)."""
    rows, total = offshop.list_offshop_sales(
        status=args.get("status"), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [offshop_dict(s) for s in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/offshop-sales/<int:sale_id>", methods=["GET"])
@require_role(*OFFICERS)
@blp.response(200, OffshopSaleSchema)
@blp.doc(security=SECURED)
def get_offshop(sale_id: int):
    """One off-shop sale with its evidence and decision (officers)."""
    return offshop_dict(offshop.get_offshop_sale(sale_id))


@blp.route("/offshop-sales/<int:sale_id>/approve", methods=["POST"])
@require_role(*OFFICERS)
@blp.response(200, OffshopSaleSchema)
@blp.doc(security=SECURED)
def approve_offshop(sale_id: int):
    """Approve a pending off-shop sale (not by the officer who recorded it); it counts from now on."""
    with atomic():
        return offshop_dict(offshop.approve_offshop_sale(api_user(), sale_id))


@blp.route("/offshop-sales/<int:sale_id>/reject", methods=["POST"])
@require_role(*OFFICERS)
@blp.arguments(ReasonSchema)
@blp.response(200, OffshopSaleSchema)
@blp.doc(security=SECURED)
def reject_offshop(data: dict, sale_id: int):
    """Reject a pending off-shop sale with a reason (not by the officer who recorded it)."""
    with atomic():
        return offshop_dict(offshop.reject_offshop_sale(api_user(), sale_id, reason=data["reason"]))


@blp.route("/offshop-sales/<int:sale_id>/void", methods=["POST"])
@require_role(*OFFICERS)
@blp.arguments(ReasonSchema)
@blp.response(200, OffshopSaleSchema)
@blp.doc(security=SECURED)
def void_offshop(data: dict, sale_id: int):
    """Void an approved off-shop sale found wrong: its entries are reversed, dated today."""
    with atomic():
        return offshop_dict(offshop.void_offshop_sale(api_user(), sale_id, reason=data["reason"]))


@blp.route("/reconciliation-runs")
@require_role(*OFFICERS)
@blp.response(200, RunPageSchema)
@blp.doc(security=SECURED)
def reconciliation_runs():
    """The latest 20 reconciliation runs with their results and differences (officers)."""
    return {"items": reports.recent_runs(20)}
