"""Work units under /api/v1 (直接采购): verification, quotas, account, bulk orders, invoices, pickup cards.

Thin: parse, call one use case in one unit of work, render. Who may do what is decided here for the
roles (``require_role``) and in the use cases for a unit's own logins (its manager, its buyers).
"""

from __future__ import annotations

import marshmallow as ma
from flask import request, send_file
from flask_smorest import Blueprint
from flask_smorest.fields import Upload

from shop.accounts.auth import api_user, require_role
from shop.core import clock
from shop.core.api import PageArgs, page_of
from shop.core.db import atomic, db, reporting
from shop.core.errors import NotFound
from shop.core.idempotency import idempotent
from shop.core.inputs import accepts_upload
from shop.orders import services as orders
from shop.orders.models import Order
from shop.orders.schemas import OrderOut, OrderPage, order_dict
from shop.workunits import account, bulk, invoices, pickup_cards, quotas, services
from shop.workunits import schemas as s
from shop.workunits.errors import InvoiceNotFound
from shop.workunits.models import WorkUnit

blp = Blueprint("workunits_api", __name__, url_prefix="/api/v1", description="Work units (直接采购)")
SECURITY = [{"bearerAuth": []}]
OFFICERS = ("aid_officer", "admin")


class FileIn(ma.Schema):
    file = Upload(required=True)


def _unit_out(unit) -> dict:
    return s.unit_dict(
        unit,
        status=account.account_status(unit),
        history=services.history(unit),
        same=services.same_code_units(unit),
    )


# -- verification and the unit's record --------------------------------------------------------------


@blp.route("/admin/work-units", methods=["GET"])
@blp.arguments(s.UnitListArgs, location="query")
@blp.response(200, s.UnitPage)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def list_units(args: dict):
    """Registered units (``verification=pending``: the ones waiting for a decision), newest first."""
    rows, total = page_of(
        services.units_query(verification=args.get("verification"), q=args["q"]),
        page=args["page"],
        per_page=args["per_page"],
    )
    return {
        "items": [s.unit_dict(u) for u in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/admin/work-units/<int:user_id>/verify", methods=["POST"])
@blp.arguments(s.VerifyIn)
@blp.response(200, s.UnitOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def verify(data: dict, user_id: int):
    """Verify a unit with a note: its orders paid from now on count as direct purchase."""
    with atomic():
        return _unit_out(services.verify_unit(user_id, note=data["note"], actor=api_user()))


@blp.route("/admin/work-units/<int:user_id>/reject", methods=["POST"])
@blp.arguments(s.UnitRejectIn)
@blp.response(200, s.UnitOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def reject(data: dict, user_id: int):
    """Reject a unit (or withdraw its verification) with a reason: its later orders are helped sales."""
    with atomic():
        return _unit_out(services.reject_unit(user_id, reason=data["reason"], actor=api_user()))


@blp.route("/admin/work-units/<int:user_id>", methods=["PATCH"])
@blp.arguments(s.UnitPatchIn)
@blp.response(200, s.UnitOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def patch_unit(data: dict, user_id: int):
    """Change the unit's payment terms (days to pay what is charged on account)."""
    with atomic():
        return _unit_out(services.set_terms(user_id, days=data["payment_terms_days"], actor=api_user()))


@blp.route("/work-units/<int:user_id>", methods=["GET"])
@blp.response(200, s.UnitOut)
@blp.doc(security=SECURITY)
@require_role()
def get_unit(user_id: int):
    """The unit, its verification history and account (its manager, aid officers, admins)."""
    unit = services.get_unit(user_id)
    services.ensure_can_manage(unit, api_user())
    return _unit_out(unit)


# -- quotas ----------------------------------------------------------------------------------------


@blp.route("/admin/work-units/<int:user_id>/quota", methods=["PUT"])
@blp.arguments(s.QuotaIn)
@blp.response(200, s.ProgressOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def set_quota(data: dict, user_id: int):
    """Set the unit's reserved amount for a year; answers its progress."""
    with atomic():
        quotas.set_quota(user_id, year=data["year"], amount_fen=data["amount_fen"], actor=api_user())
    return s.progress_dict(quotas.unit_progress(user_id, year=data["year"]))


@blp.route("/work-units/<int:user_id>/progress", methods=["GET"])
@blp.arguments(s.YearArgs, location="query")
@blp.response(200, s.ProgressOut)
@blp.doc(security=SECURITY)
@require_role()
def progress(args: dict, user_id: int):
    """The unit's quota and counted direct purchase in a year (the unit's logins, officers, admins)."""
    unit = services.get_unit(user_id)
    services.ensure_member_or_officer(unit, api_user())
    return s.progress_dict(quotas.unit_progress(user_id, year=args.get("year") or clock.today().year))


@blp.route("/work-units/quotas", methods=["GET"])
@blp.arguments(s.QuotaListArgs, location="query")
@blp.response(200, s.QuotaPage)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def quota_list(args: dict):
    """Every unit against its quota, sortable, with units behind schedule at each completed quarter."""
    year = args.get("year") or clock.today().year
    rows = quotas.all_units(year=year, sort=args["sort"], descending=args["order"] == "desc")
    first = (args["page"] - 1) * args["per_page"]
    return {
        "items": [s.quota_row_dict(r) for r in rows[first : first + args["per_page"]]],
        "total": len(rows),
        "page": args["page"],
        "per_page": args["per_page"],
        "year": year,
    }


@blp.route("/work-units/quotas.xlsx", methods=["GET"])
@blp.arguments(s.QuotaExportArgs, location="query")
@blp.response(200, description="XLSX with Chinese headers")
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def quota_export(args: dict):
    """The officers' list as an Excel file (Chinese headers, behind-schedule flags per quarter)."""
    year = args.get("year") or clock.today().year
    with reporting():  # a report: read on the replica when there is one (shop.core.db)
        rows = quotas.all_units(year=year, sort=args["sort"], descending=args["order"] == "desc")
    return send_file(
        quotas.export_xlsx(rows, year=year),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"work-unit-quotas-{year}.xlsx",
    )


# -- the unit's logins and orders --------------------------------------------------------------------


@blp.route("/work-units/<int:user_id>/buyers", methods=["POST"])
@idempotent
@blp.arguments(s.BuyerIn)
@blp.response(201, s.BuyerOut)
@blp.doc(security=SECURITY)
@require_role()
def add_buyer(data: dict, user_id: int):
    """The unit's manager adds a login that buys for the unit."""
    with atomic():
        user = services.add_buyer(
            user_id, email=data["email"], name=data["name"], password=data["password"], actor=api_user()
        )
        return {"id": user.id, "email": user.email, "name": user.name, "role": "buyer"}


@blp.route("/work-units/<int:user_id>/buyers", methods=["GET"])
@blp.response(200, s.BuyerList)
@blp.doc(security=SECURITY)
@require_role()
def list_buyers(user_id: int):
    """The unit's logins (manager and buyers)."""
    unit = services.get_unit(user_id)
    services.ensure_can_manage(unit, api_user())
    return {
        "items": [
            {"id": u.id, "email": u.email, "name": u.name, "role": m.role} for m, u in services.members(unit)
        ]
    }


@blp.route("/work-units/<int:user_id>/orders", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, OrderPage)
@blp.doc(security=SECURITY)
@require_role()
def unit_orders(args: dict, user_id: int):
    """Every order of the unit's logins, newest first (its manager, officers, admins)."""
    unit = services.get_unit(user_id)
    services.ensure_can_manage(unit, api_user())
    rows, total = page_of(services.unit_orders_query(unit), page=args["page"], per_page=args["per_page"])
    return {
        "items": [order_dict(orders.order_details(o)) for o in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


# -- account ---------------------------------------------------------------------------------------


@blp.route("/orders/<int:order_id>/payments/account", methods=["POST"])
@idempotent
@blp.response(200, OrderOut)
@blp.doc(security=SECURITY)
@require_role()
def pay_on_account(order_id: int):
    """A verified unit's login pays its order on the unit's account (due after the unit's terms)."""
    buyer = api_user()
    with atomic():
        orders.order_for_viewer(order_id, buyer)
        order = account.pay_order_on_account(order_id, buyer=buyer)
        return order_dict(orders.order_details(order))


@blp.route("/admin/work-units/<int:user_id>/transfers", methods=["POST"])
@idempotent
@blp.arguments(s.TransferIn)
@blp.response(201, s.AccountEntryOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def record_transfer(data: dict, user_id: int):
    """Record a bank transfer received from the unit (each bank reference once)."""
    with atomic():
        entry = account.record_transfer(
            user_id,
            amount_fen=data["amount_fen"],
            reference=data["reference"],
            received_on=data.get("received_on"),
            actor=api_user(),
        )
        return s.entry_dict(entry)


@blp.route("/work-units/<int:user_id>/statements/<month>", methods=["GET"])
@blp.response(200, s.StatementOut)
@blp.doc(security=SECURITY)
@require_role()
def statement(user_id: int, month: str):
    """The unit's monthly statement (``YYYY-MM``): opening, charges, payments, closing, overdue."""
    unit = services.get_unit(user_id)
    services.ensure_can_manage(unit, api_user())
    return s.statement_dict(account.statement(unit, account.parse_month(month)))


@blp.route("/admin/work-units/overdue", methods=["GET"])
@blp.response(200, s.OverdueList)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def overdue():
    """Units with charges past their due date, most overdue first."""
    items = []
    for unit_id, amount in sorted(account.overdue_units().items(), key=lambda kv: -kv[1]):
        unit = db.session.get(WorkUnit, unit_id)
        st = account.account_status(unit)
        items.append(
            {
                "user_id": unit.account_id,
                "legal_name": unit.legal_name,
                "overdue_fen": amount,
                "balance_fen": st.balance_fen,
                "oldest_due_on": st.oldest_due_on,
                "currency": "CNY",
            }
        )
    return {"items": items}


# -- bulk orders -----------------------------------------------------------------------------------


@blp.route("/bulk-orders", methods=["POST"])
@accepts_upload
@idempotent
@blp.arguments(FileIn, location="files")
@blp.response(201, s.BulkOrderOut)
@blp.alt_response(422, description="A wrong column or row: each problem names its row and column")
@blp.alt_response(409, description="Not enough stock for a row; nothing was ordered")
@blp.doc(security=SECURITY)
@require_role()
def bulk_order(files: dict):
    """Upload a CSV or XLSX of a verified unit's bulk or welfare order: all orders placed and paid on
    account, or none (a 422 listing every bad row and column)."""
    upload = files["file"]
    with atomic():
        result = bulk.place_bulk_order(api_user(), filename=upload.filename or "", data=upload.read())
        return {
            "id": result.bulk.id,
            "rows": result.bulk.rows,
            "total_fen": result.bulk.total_fen,
            "currency": "CNY",
            "orders": [{"id": o.id, "number": o.number, "total_fen": o.total_fen} for o in result.orders],
        }


# -- invoices ----------------------------------------------------------------------------------------


def _invoice_out(inv) -> dict:
    order = db.session.get(Order, inv.order_id)
    return s.invoice_dict(inv, order_number=order.number, needs_red_letter=invoices.needs_red_letter(inv))


@blp.route("/orders/<int:order_id>/invoice-request", methods=["POST"])
@idempotent
@blp.arguments(s.InvoiceRequestIn)
@blp.response(201, s.InvoiceOut)
@blp.alt_response(409, description="Not paid, refunded, paid by card, or an invoice was requested already")
@blp.doc(security=SECURITY)
@require_role()
def request_invoice(data: dict, order_id: int):
    """The buyer of a paid order asks for its VAT invoice (normal, or special with bank and address)."""
    buyer = api_user()
    with atomic():
        orders.order_for_viewer(order_id, buyer)
        inv = invoices.request_invoice(order_id, invoices.InvoiceRequest(**data), buyer=buyer)
        return _invoice_out(inv)


@blp.route("/invoices", methods=["GET"])
@blp.arguments(s.InvoiceListArgs, location="query")
@blp.response(200, s.InvoicePage)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def invoice_queue(args: dict):
    """Staff's queue: ``requested`` to issue, ``issued``, ``red_letter`` (refunded after issue)."""
    rows, total = page_of(
        invoices.queue_query(args.get("status")), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [_invoice_out(i) for i in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/invoices/<int:invoice_id>", methods=["GET"])
@blp.response(200, s.InvoiceOut)
@blp.doc(security=SECURITY)
@require_role()
def get_invoice(invoice_id: int):
    """One invoice (its buyer, officers, admins)."""
    inv = invoices.get_invoice(invoice_id)
    if not invoices.can_read(inv, api_user()):
        raise InvoiceNotFound(f"invoice {invoice_id} does not exist")
    return _invoice_out(inv)


@blp.route("/invoices/<int:invoice_id>/issue", methods=["POST"])
@blp.arguments(s.IssueIn)
@blp.response(200, s.InvoiceOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def issue_invoice(data: dict, invoice_id: int):
    """Record the invoice as issued with its number; the buyer is told."""
    with atomic():
        return _invoice_out(invoices.issue_invoice(invoice_id, number=data["number"], staff=api_user()))


@blp.route("/invoices/<int:invoice_id>/pdf", methods=["POST"])
@accepts_upload
@blp.arguments(FileIn, location="files")
@blp.response(200, s.InvoiceOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def attach_pdf(files: dict, invoice_id: int):
    """Attach the invoice's PDF (at most 5 MB)."""
    with atomic():
        return _invoice_out(invoices.attach_pdf(invoice_id, data=files["file"].read(), staff=api_user()))


@blp.route("/invoices/<int:invoice_id>/pdf", methods=["GET"])
@blp.response(200, description="the invoice PDF")
@blp.doc(security=SECURITY)
@require_role()
def download_pdf(invoice_id: int):
    """Download the invoice's PDF (its buyer, officers, admins)."""
    inv = invoices.get_invoice(invoice_id)
    path = invoices.pdf_path(inv)
    if not invoices.can_read(inv, api_user()) or path is None or not path.exists():
        raise NotFound("no PDF for this invoice")
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"fapiao-{inv.number or inv.id}.pdf",
    )


@blp.route("/invoices/<int:invoice_id>/red-letter", methods=["POST"])
@blp.arguments(s.IssueIn)
@blp.response(200, s.InvoiceOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def red_letter(data: dict, invoice_id: int):
    """Record the red-letter (红字) invoice issued after a refund of an invoiced order."""
    with atomic():
        return _invoice_out(invoices.record_red_letter(invoice_id, number=data["number"], staff=api_user()))


# -- pickup cards ----------------------------------------------------------------------------------


@blp.route("/admin/pickup-cards", methods=["POST"])
@blp.arguments(s.CardBatchIn)
@blp.response(201, s.CardBatchOut)
@blp.alt_response(409, description="Unit not verified, or this Idempotency-Key issued a batch already")
@blp.doc(security=SECURITY)
@require_role("admin")
def issue_cards(data: dict):
    """Issue a batch of cards to a verified unit, charged to its account. The codes are in this answer
    only: they are stored hashed, so a retry with the same ``Idempotency-Key`` is refused (409) rather
    than answered again."""
    with atomic():
        issued = pickup_cards.issue_batch(
            data["buyer_unit"],
            count=data["count"],
            value_fen=data["value_fen"],
            expires_on=data["expires_on"],
            actor=api_user(),
            request_key=(request.headers.get("Idempotency-Key") or "").strip()[:200] or None,
        )
        return {
            "batch": issued.batch.id,
            "count": issued.batch.count,
            "value_fen": issued.batch.value_fen,
            "expires_on": issued.batch.expires_on,
            "currency": "CNY",
            "cards": [{"code": c} for c in issued.codes],
        }


@blp.route("/admin/pickup-cards", methods=["GET"])
@blp.arguments(s.UnitArgs, location="query")
@blp.response(200, s.CardBatchList)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def list_batches(args: dict):
    """Card batches with what they redeemed and still hold (``unit``: one unit's)."""
    # The card codes themselves are never shown again: only what the batches redeemed and hold.
    unit = services.get_unit(args["unit"]) if args.get("unit") else None
    return {"items": [s.batch_summary_dict(b) for b in pickup_cards.batches(unit=unit)]}


@blp.route("/orders/<int:order_id>/payments/card", methods=["POST"])
@idempotent
@blp.arguments(s.CardPaymentIn)
@blp.response(200, OrderOut)
@blp.alt_response(409, description="The card expired, or its balance does not cover the order")
@blp.alt_response(429, description="Too many wrong card codes")
@blp.doc(security=SECURITY)
@require_role()
def pay_with_card(data: dict, order_id: int):
    """The buyer pays the order with a pickup card whose balance covers it."""
    buyer = api_user()
    with atomic():
        orders.order_for_viewer(order_id, buyer)
        order = pickup_cards.pay_order_with_card(order_id, code=data["code"], buyer=buyer)
        return order_dict(orders.order_details(order))
