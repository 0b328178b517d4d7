"""VAT invoices (发票) for paid orders: requested by the buyer, issued by staff with the number and PDF.

The shop does not call a tax system; it keeps what a finance office needs: who asked for which kind of
invoice (普通 normal or 专用 special, the latter with bank and registered address), the number issued and
its PDF, and which issued invoices were followed by a refund and so need a red-letter (红字) invoice.
One order has at most one invoice (a unique index; a second request is refused). A refunded order, an
unpaid one, or one paid with a pickup card (the unit that bought the cards is invoiced for them) gets none.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import Select, exists, select, update

from shop.accounts.models import User
from shop.audit.services import record
from shop.core.db import db, utcnow
from shop.notifications.services import notify
from shop.orders import lifecycle
from shop.orders.errors import NotYourOrder
from shop.orders.models import Order
from shop.payments.models import Refund
from shop.payments.queries import counted_payment
from shop.workunits.errors import (
    InvalidInvoice,
    InvoiceAlreadyRequested,
    InvoiceNotFound,
    InvoiceRefused,
    InvoiceState,
)
from shop.workunits.models import INVOICE_KINDS, Invoice
from shop.workunits.services import check_credit_code

INVOICEABLE = ("paid", "fulfilling", "ready_for_pickup", "shipped", "completed", "partially_refunded")
NUMBER_RE = re.compile(r"[0-9A-Za-z]{8,20}")
MAX_PDF_BYTES = 5 * 1024 * 1024
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class InvoiceRequest:
    kind: str
    title: str
    tax_id: str = ""
    email: str = ""
    bank_name: str = ""
    bank_account: str = ""
    address: str = ""
    phone: str = ""


def _check(req: InvoiceRequest) -> str:
    """Validate the request; return the normalised tax id."""
    errors = []
    if req.kind not in INVOICE_KINDS:
        errors.append({"field": "kind", "message": "normal or special"})
    if not req.title.strip():
        errors.append({"field": "title", "message": "required"})
    if req.email and not EMAIL_RE.fullmatch(req.email.strip()):
        errors.append({"field": "email", "message": "not an email address"})
    if req.kind == "special":
        for name in ("bank_name", "bank_account", "address", "phone"):
            if not getattr(req, name).strip():
                errors.append({"field": name, "message": "required for a special VAT invoice"})
        if not req.tax_id.strip():
            errors.append({"field": "tax_id", "message": "required for a special VAT invoice"})
    if errors:
        raise InvalidInvoice("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return check_credit_code(req.tax_id) if req.tax_id.strip() else ""


def request_invoice(order_id: int, req: InvoiceRequest, *, buyer: User) -> Invoice:
    """The buyer asks for the invoice of a paid order (once per order)."""
    order = lifecycle.lock_order(order_id)
    if order.user_id != buyer.id:
        raise NotYourOrder("only the order's buyer can ask for its invoice")
    tax_id = _check(req)
    if db.session.scalar(select(Invoice.id).where(Invoice.order_id == order.id)) is not None:
        raise InvoiceAlreadyRequested(
            f"an invoice was already requested for order {order.number}",
            errors=[{"field": "order", "message": "invoice already requested"}],
        )
    if order.status == "refunded":
        raise InvoiceRefused(f"order {order.number} was refunded", status_now=order.status)
    if order.status not in INVOICEABLE:
        raise InvoiceRefused(f"order {order.number} is {order.status}, not paid", status_now=order.status)
    payment = counted_payment(order)
    if payment is not None and payment.gateway == "pickup_card":
        raise InvoiceRefused(
            f"order {order.number} was paid with a pickup card: the unit that bought the cards is invoiced"
        )
    invoice = Invoice(
        order_id=order.id,
        user_id=buyer.id,
        kind=req.kind,
        title=req.title.strip()[:200],
        tax_id=tax_id,
        email=req.email.strip()[:254],
        bank_name=req.bank_name.strip()[:120],
        bank_account=req.bank_account.strip()[:40],
        address=req.address.strip()[:200],
        phone=req.phone.strip()[:30],
        amount_fen=order.paid_fen - order.refunded_fen,
    )
    db.session.add(invoice)
    db.session.flush()
    return invoice


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise InvoiceNotFound(f"invoice {invoice_id} does not exist")
    return invoice


def _store_pdf(invoice: Invoice, data: bytes) -> str:
    if len(data) > MAX_PDF_BYTES:
        raise InvalidInvoice(
            "the PDF is larger than 5 MB", errors=[{"field": "file", "message": "at most 5 MB"}]
        )
    if not data.startswith(b"%PDF-"):
        raise InvalidInvoice("the file is not a PDF", errors=[{"field": "file", "message": "not a PDF"}])
    folder = Path(current_app.extensions["settings"].DATA_DIR) / "invoices"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{invoice.id}-{secrets.token_hex(8)}.pdf"
    (folder / name).write_bytes(data)
    return name


def issue_invoice(invoice_id: int, *, number: str, staff: User, pdf: bytes | None = None) -> Invoice:
    """Record the invoice as issued with its number (and its PDF); the buyer is told and may download it."""
    number = (number or "").strip()
    if not NUMBER_RE.fullmatch(number):
        raise InvalidInvoice(
            "the invoice number is 8 to 20 letters or digits",
            errors=[{"field": "number", "message": "8-20 letters or digits"}],
        )
    invoice = get_invoice(invoice_id)
    pdf_name = _store_pdf(invoice, pdf) if pdf else None
    values = {"status": "issued", "number": number, "issued_at": utcnow(), "issued_by_id": staff.id}
    if pdf_name:
        values["pdf_name"] = pdf_name
    res = db.session.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id, Invoice.status == "requested")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise InvoiceState(f"invoice {invoice_id} was issued already (number {invoice.number})")
    db.session.refresh(invoice)
    order = db.session.get(Order, invoice.order_id)
    buyer = db.session.get(User, invoice.user_id)
    notify(
        dedupe_key=f"invoice:{invoice.id}:issued",
        kind="invoice_issued",
        subject=f"发票已开具 Invoice issued · {order.number}",
        body=f"发票号码 Invoice number {number}\n订单 Order {order.number}\n/orders/{order.id}",
        user=buyer,
        email=invoice.email or buyer.email,
    )
    record(
        staff,
        "invoice.issued",
        target_type="invoice",
        target_id=invoice.id,
        number=number,
        order=order.number,
    )
    return invoice


def attach_pdf(invoice_id: int, *, data: bytes, staff: User) -> Invoice:
    """Attach (or replace) the PDF of an issued or requested invoice."""
    invoice = get_invoice(invoice_id)
    invoice.pdf_name = _store_pdf(invoice, data)
    db.session.flush()
    record(staff, "invoice.pdf", target_type="invoice", target_id=invoice.id)
    return invoice


def record_red_letter(invoice_id: int, *, number: str, staff: User) -> Invoice:
    """Record the red-letter (红字) invoice issued after a refund of an invoiced order."""
    number = (number or "").strip()
    if not NUMBER_RE.fullmatch(number):
        raise InvalidInvoice(
            "8 to 20 letters or digits", errors=[{"field": "number", "message": "8-20 letters or digits"}]
        )
    invoice = get_invoice(invoice_id)
    if invoice.status != "issued" or not needs_red_letter(invoice):
        raise InvoiceState(f"invoice {invoice_id} needs no red-letter invoice")
    invoice.red_letter_number = number
    invoice.red_letter_at = utcnow()
    db.session.flush()
    record(staff, "invoice.red_letter", target_type="invoice", target_id=invoice.id, number=number)
    return invoice


def _refunded_after_issue():
    return exists().where(
        Refund.order_id == Invoice.order_id,
        Invoice.issued_at.is_not(None),
        Refund.created_at > Invoice.issued_at,
    )


def needs_red_letter(invoice: Invoice) -> bool:
    """Issued, then (part of) the order was refunded, and no red-letter invoice is recorded yet."""
    if invoice.status != "issued" or invoice.red_letter_number:
        return False
    return bool(
        db.session.scalar(
            select(Refund.id)
            .where(Refund.order_id == invoice.order_id, Refund.created_at > invoice.issued_at)
            .limit(1)
        )
    )


def queue_query(status: str | None = None) -> Select:
    """Staff's queue: ``requested`` (to issue), ``issued``, ``red_letter`` (refunded after issue)."""
    stmt = select(Invoice)
    if status == "red_letter":
        stmt = stmt.where(
            Invoice.status == "issued", Invoice.red_letter_number == "", _refunded_after_issue()
        )
    elif status:
        stmt = stmt.where(Invoice.status == status)
    return stmt.order_by(Invoice.id)


def invoice_for_order(order_id: int) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.order_id == order_id))


def pdf_path(invoice: Invoice) -> Path | None:
    if not invoice.pdf_name:
        return None
    return Path(current_app.extensions["settings"].DATA_DIR) / "invoices" / invoice.pdf_name


def can_read(invoice: Invoice, user: User) -> bool:
    return invoice.user_id == user.id or user.role in ("admin", "aid_officer")
