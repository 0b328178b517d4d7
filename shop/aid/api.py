"""Aid programmes, totals, exports, off-shop sales and reconciliation runs under /api/v1/aid.

Public: the programme list and detail, and each programme's progress (counted total only). Everything
else is for aid officers and administrators (401 without a token, 403 for other roles).
"""

from __future__ import annotations

import marshmallow as ma
from flask import Response, request, send_file
from flask_smorest import Blueprint
from flask_smorest.fields import Upload

from shop.accounts.auth import api_user, require_role
from shop.aid import charity, exports, imports, offshop, programmes, reports
from shop.aid.schemas import (
    CharityArgs,
    CharityCreateSchema,
    CharityPageSchema,
    CharitySaleSchema,
    ExportArgs,
    ImportArgs,
    ImportFormSchema,
    ImportPageSchema,
    ImportSchema,
    OffshopArgs,
    OffshopCreateSchema,
    OffshopPageSchema,
    OffshopSaleSchema,
    PlatformCreateSchema,
    PlatformKeySchema,
    PlatformListSchema,
    PlatformSchema,
    ProgrammeCreateSchema,
    ProgrammeListSchema,
    ProgrammeSchema,
    ProgrammeUpdateSchema,
    ProgressSchema,
    PushSchema,
    RangeArgs,
    ReasonSchema,
    RunPageSchema,
    TotalsSchema,
    WorkUnitArgs,
    WorkUnitPageSchema,
    charity_dict,
    offshop_dict,
    platform_dict,
    programme_dict,
)
from shop.core.db import atomic, reporting
from shop.core.idempotency import idempotent
from shop.core.inputs import accepts_upload

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
    with reporting():
        return reports.programme_totals(prog, rng)


@blp.route("/programmes/<code>/export")
@require_role(*OFFICERS)
@blp.arguments(ExportArgs, location="query")
@blp.doc(security=SECURED, responses={"200": {"description": "CSV or XLSX file"}})
def export(args: dict, code: str):
    """Download the ledger for a date range as CSV or XLSX with Chinese headers (officers)."""
    prog = programmes.get_programme(code)
    with reporting():
        req = exports.plan_export(prog, fmt=args["format"], start=args["start"], end=args["end"])
        return export_response(req)


def export_response(req: exports.ExportRequest) -> Response:
    """Stream a CSV, or send an XLSX built in a temporary file (shared with the dashboard's button).

    Called inside ``reporting()``: the rows come from the replica when there is one."""
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
    with reporting():
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


# -- partner platforms and their sales imports ------------------------------------------------------


class ImportFileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "CSV (UTF-8) or XLSX; columns in docs/aid.md"})


@blp.route("/platforms", methods=["GET"])
@require_role(*OFFICERS)
@blp.response(200, PlatformListSchema)
@blp.doc(security=SECURED)
def list_platforms():
    """The partner platforms whose sales are imported (officers)."""
    return {"items": [platform_dict(p) for p in imports.list_platforms()]}


@blp.route("/platforms", methods=["POST"])
@idempotent
@require_role(*OFFICERS)
@blp.arguments(PlatformCreateSchema)
@blp.response(201, PlatformSchema)
@blp.doc(security=SECURED)
def create_platform(data: dict):
    """Register a partner platform: name, operator, contact, the producers it sells for (officers)."""
    with atomic():
        platform = imports.create_platform(
            api_user(),
            code=data["code"],
            name=data["name"],
            name_en=data["name_en"],
            operator=data["operator"],
            contact=data["contact"],
            producer_codes=data["producers"],
        )
        return platform_dict(platform)


@blp.route("/platforms/<code>/api-key", methods=["POST"])
@require_role(*OFFICERS)
@blp.response(201, PlatformKeySchema)
@blp.doc(security=SECURED)
def issue_platform_key(code: str):
    """Give a platform a new API key to push its sales (shown once; the previous key stops working)."""
    with atomic():
        return {"code": code, "api_key": imports.issue_api_key(api_user(), code)}


@blp.route("/platforms/<code>/sales", methods=["POST"])
@blp.arguments(PushSchema)
@blp.response(200, ImportSchema)
@blp.alt_response(401, description="No or an unknown X-Platform-Key")
@blp.doc(
    security=[],
    parameters=[{"in": "header", "name": "X-Platform-Key", "required": True, "schema": {"type": "string"}}],
)
def push_platform_sales(data: dict, code: str):
    """A platform pushes up to 1000 sale lines with its API key; each (order id, line) counts once
    however often it is sent. Answers the counts and the rejected rows (numbered from 1)."""
    with atomic():
        platform = imports.platform_for_key(request.headers.get("X-Platform-Key"))
        if platform.code != code:
            raise imports.PlatformKeyRefused("this key belongs to another platform")
        imp = imports.push_sales(platform, data["rows"])
        return imports.import_dict(imp)


@blp.route("/imports", methods=["POST"])
@accepts_upload("AID_IMPORT_MAX_BYTES")
@idempotent
@require_role(*OFFICERS)
@blp.arguments(ImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.response(202, ImportSchema)
@blp.alt_response(422, description="Not CSV/XLSX, unreadable, or a required column missing")
@blp.doc(security=SECURED)
def upload_import(form: dict, files: dict):
    """Upload a platform's sales file (CSV in UTF-8 or XLSX); it is counted by a background task:
    poll ``GET /imports/{id}`` for its progress."""
    upload = files["file"]
    with atomic():
        imp = imports.start_import(
            api_user(), platform_code=form["platform"], filename=upload.filename or "", save_to=upload.save
        )
        return imports.import_dict(imp)


@blp.route("/imports", methods=["GET"])
@require_role(*OFFICERS)
@blp.arguments(ImportArgs, location="query")
@blp.response(200, ImportPageSchema)
@blp.doc(security=SECURED)
def list_imports(args: dict):
    """Sales imports, newest first, optionally of one platform (officers)."""
    rows, total = imports.list_imports(
        platform_code=args.get("platform"), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [imports.import_dict(i, rejected_limit=20) for i in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/imports/<int:import_id>", methods=["GET"])
@require_role(*OFFICERS)
@blp.response(200, ImportSchema)
@blp.doc(security=SECURED)
def get_import(import_id: int):
    """One import: status, rows processed, accepted, duplicates, rejected rows with reasons (officers)."""
    return imports.import_dict(imports.get_import(import_id))


@blp.route("/imports/<int:import_id>/rejected.csv", methods=["GET"])
@require_role(*OFFICERS)
@blp.doc(security=SECURED, responses={"200": {"description": "CSV of the rejected rows and reasons"}})
def rejected_rows(import_id: int):
    """The rejected rows as a CSV in the import format plus a reason column: fix and upload it again."""
    imports.get_import(import_id)
    return rejected_csv_response(import_id)


def rejected_csv_response(import_id: int) -> Response:
    """Streamed after the view returns, on its own pooled connection (no app context), like the exports."""
    resp = Response(imports.rejected_csv(import_id), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="import-{import_id}-rejected.csv"'
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    return resp


@blp.route("/imports/<int:import_id>/void", methods=["POST"])
@require_role(*OFFICERS)
@blp.arguments(ReasonSchema)
@blp.response(200, ImportSchema)
@blp.alt_response(409, description="The import has not finished yet")
@blp.doc(security=SECURED)
def void_import(data: dict, import_id: int):
    """Void a whole import with a reason: its entries are reversed (dated today), never deleted, and its
    lines may be imported again."""
    with atomic():
        return imports.import_dict(imports.void_import(api_user(), import_id, reason=data["reason"]))


# -- charity sales (义卖) of one-off items ------------------------------------------------------------


@blp.route("/charity-sales", methods=["POST"])
@idempotent
@require_role(*OFFICERS)
@blp.arguments(CharityCreateSchema)
@blp.response(201, CharitySaleSchema)
@blp.doc(security=SECURED)
def record_charity(data: dict):
    """Record a charity sale of a one-off item with its evidence and donated part; it counts (its goods
    part, under channel ``charity``) once a second officer approves."""
    with atomic():
        sale = charity.record_charity_sale(
            api_user(),
            item=data["item"],
            amount_fen=data["amount_fen"],
            donated_fen=data["donated_fen"],
            sold_on=data["sold_on"],
            evidence=data["evidence"],
            evidence_kind=data["evidence_kind"],
            producer_code=data["producer"],
            cause=data["cause"],
            buyer=data["buyer"],
            note=data["note"],
        )
        return charity_dict(sale)


@blp.route("/charity-sales", methods=["GET"])
@require_role(*OFFICERS)
@blp.arguments(CharityArgs, location="query")
@blp.response(200, CharityPageSchema)
@blp.doc(security=SECURED)
def list_charity(args: dict):
    """Charity sales, newest first; ``status=pending`` is the approval queue (officers)."""
    rows, total = charity.list_charity_sales(
        status=args.get("status"), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [charity_dict(s) for s in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/charity-sales/<int:sale_id>", methods=["GET"])
@require_role(*OFFICERS)
@blp.response(200, CharitySaleSchema)
@blp.doc(security=SECURED)
def get_charity(sale_id: int):
    """One charity sale with its evidence and decision (officers)."""
    return charity_dict(charity.get_charity_sale(sale_id))


@blp.route("/charity-sales/<int:sale_id>/approve", methods=["POST"])
@require_role(*OFFICERS)
@blp.response(200, CharitySaleSchema)
@blp.doc(security=SECURED)
def approve_charity(sale_id: int):
    """Approve a pending charity sale (not by the officer who recorded it); its goods part counts."""
    with atomic():
        return charity_dict(charity.approve_charity_sale(api_user(), sale_id))


@blp.route("/charity-sales/<int:sale_id>/reject", methods=["POST"])
@require_role(*OFFICERS)
@blp.arguments(ReasonSchema)
@blp.response(200, CharitySaleSchema)
@blp.doc(security=SECURED)
def reject_charity(data: dict, sale_id: int):
    """Reject a pending charity sale with a reason (not by the officer who recorded it)."""
    with atomic():
        return charity_dict(charity.reject_charity_sale(api_user(), sale_id, reason=data["reason"]))


@blp.route("/charity-sales/<int:sale_id>/void", methods=["POST"])
@require_role(*OFFICERS)
@blp.arguments(ReasonSchema)
@blp.response(200, CharitySaleSchema)
@blp.doc(security=SECURED)
def void_charity(data: dict, sale_id: int):
    """Void an approved charity sale found wrong: its entry is reversed, dated today."""
    with atomic():
        return charity_dict(charity.void_charity_sale(api_user(), sale_id, reason=data["reason"]))
