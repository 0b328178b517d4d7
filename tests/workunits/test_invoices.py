"""VAT invoices (发票): once per paid order, issued by staff with number and PDF, red-letter after refund."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from shop.core.db import db
from shop.notifications.models import Notification
from shop.workunits.models import Invoice
from tests.conftest import create_user
from tests.workunits.helpers import credit_code, order

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _paid_order(api, admin, email="buyer@example.cn") -> tuple:
    create_user(email)
    buyer = api.as_user(email)
    order_id = order(buyer)
    assert (
        admin.post(f"/api/v1/orders/{order_id}/payments/manual", json={"method": "cash"}).status_code == 200
    )
    return buyer, order_id


def _normal(**extra) -> dict:
    return {"kind": "normal", "title": "天津某某有限公司", "tax_id": credit_code(), **extra}


def test_an_invoice_request_is_refused_the_second_time_for_one_order(api, admin):
    buyer, order_id = _paid_order(api, admin)
    first = buyer.post(f"/api/v1/orders/{order_id}/invoice-request", json=_normal(email="cw@example.cn"))
    assert first.status_code == 201 and first.json["status"] == "requested", first.json
    assert {"id", "status"} <= set(first.json)
    second = buyer.post(f"/api/v1/orders/{order_id}/invoice-request", json=_normal())
    assert second.status_code == 409 and second.json["type"].endswith("invoice-already-requested")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1


def test_no_invoice_for_an_unpaid_or_refunded_order_or_someone_elses(api, admin):
    create_user("buyer@example.cn")
    buyer = api.as_user("buyer@example.cn")
    unpaid = order(buyer)
    r = buyer.post(f"/api/v1/orders/{unpaid}/invoice-request", json=_normal())
    assert r.status_code == 409 and "not paid" in r.json["detail"]
    _other, paid = _paid_order(api, admin, "other@example.cn")
    assert buyer.post(f"/api/v1/orders/{paid}/invoice-request", json=_normal()).status_code == 404
    assert admin.post(f"/api/v1/orders/{paid}/refunds", json={"reason": "x"}).status_code == 201
    refunded = _other.post(f"/api/v1/orders/{paid}/invoice-request", json=_normal())
    assert refunded.status_code == 409 and "refunded" in refunded.json["detail"]
    bad_code = _other.post(f"/api/v1/orders/{paid}/invoice-request", json=_normal(tax_id="123"))
    assert bad_code.status_code == 422 and bad_code.json["errors"][0]["field"] == "tax_id"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_a_special_invoice_needs_bank_and_address(api, admin):
    buyer, order_id = _paid_order(api, admin)
    r = buyer.post(f"/api/v1/orders/{order_id}/invoice-request", json={**_normal(), "kind": "special"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json["errors"]} == {"bank_name", "bank_account", "address", "phone"}
    ok = buyer.post(
        f"/api/v1/orders/{order_id}/invoice-request",
        json={
            **_normal(),
            "kind": "special",
            "bank_name": "中国银行天津东丽支行",
            "bank_account": "2750 1234 5678",
            "address": "天津市东丽区华明街道1号",
            "phone": "022-24391234",
        },
    )
    assert ok.status_code == 201, ok.json


def test_staff_issue_with_number_and_pdf_the_buyer_is_told_and_downloads_it(api, admin, officer):
    buyer, order_id = _paid_order(api, admin)
    inv = buyer.post(f"/api/v1/orders/{order_id}/invoice-request", json=_normal()).json["id"]
    queue = officer.get("/api/v1/invoices?status=requested").json
    assert [i["id"] for i in queue["items"]] == [inv]
    assert buyer.post(f"/api/v1/invoices/{inv}/issue", json={"number": "12345678"}).status_code == 403
    assert officer.post(f"/api/v1/invoices/{inv}/issue", json={"number": "12"}).status_code == 422
    issued = officer.post(f"/api/v1/invoices/{inv}/issue", json={"number": "24120000000012345678"})
    assert issued.status_code == 200 and issued.json["status"] == "issued", issued.json
    assert officer.post(f"/api/v1/invoices/{inv}/issue", json={"number": "12345678"}).status_code == 409
    up = officer.client.post(
        f"/api/v1/invoices/{inv}/pdf",
        data={"file": (io.BytesIO(PDF), "fp.pdf")},
        headers={"Authorization": f"Bearer {officer.token}"},
        content_type="multipart/form-data",
    )
    assert up.status_code == 200 and up.json["pdf_url"], up.json
    not_pdf = officer.client.post(
        f"/api/v1/invoices/{inv}/pdf",
        data={"file": (io.BytesIO(b"<html>"), "fp.pdf")},
        headers={"Authorization": f"Bearer {officer.token}"},
        content_type="multipart/form-data",
    )
    assert not_pdf.status_code == 422
    got = buyer.get(f"/api/v1/invoices/{inv}/pdf")
    assert got.status_code == 200 and got.data == PDF
    create_user("nosy@example.cn")
    assert api.as_user("nosy@example.cn").get(f"/api/v1/invoices/{inv}/pdf").status_code == 404
    db.session.rollback()
    told = db.session.scalar(select(Notification).where(Notification.dedupe_key == f"invoice:{inv}:issued"))
    assert told is not None and "24120000000012345678" in told.body


def test_a_refund_after_issue_is_flagged_for_a_red_letter_invoice(api, admin, officer):
    buyer, order_id = _paid_order(api, admin)
    inv = buyer.post(f"/api/v1/orders/{order_id}/invoice-request", json=_normal()).json["id"]
    officer.post(f"/api/v1/invoices/{inv}/issue", json={"number": "12345678"})
    assert officer.get("/api/v1/invoices?status=red_letter").json["total"] == 0
    assert (
        admin.post(
            f"/api/v1/orders/{order_id}/refunds", json={"reason": "破损", "amount_fen": 1000}
        ).status_code
        == 201
    )
    flagged = officer.get("/api/v1/invoices?status=red_letter").json
    assert [i["id"] for i in flagged["items"]] == [inv] and flagged["items"][0]["needs_red_letter"]
    r = officer.post(f"/api/v1/invoices/{inv}/red-letter", json={"number": "87654321"})
    assert (
        r.status_code == 200 and r.json["red_letter_number"] == "87654321" and not r.json["needs_red_letter"]
    )
    assert officer.get("/api/v1/invoices?status=red_letter").json["total"] == 0
