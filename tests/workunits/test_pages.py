"""Work-unit pages, Chinese first: registration with errors next to fields, the unit's home, bulk upload,
the order page's card and invoice forms, and the officers' units, quotas, card issue and invoice queue."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from shop.accounts.services import find_user_by_email
from shop.core.db import db
from shop.workunits.models import Invoice, PickupCard, WorkUnit
from tests.conftest import create_user, sign_in_session
from tests.workunits.helpers import SKU, credit_code, order, register_unit

PDF = b"%PDF-1.4\n%%EOF\n"


def _login(client, email: str) -> None:
    sign_in_session(client, find_user_by_email(email))


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_registration_page_shows_a_bad_credit_code_next_to_its_field_in_chinese(client, shop):
    page = client.get("/work-units/register")
    assert page.status_code == 200 and "统一社会信用代码" in page.get_data(as_text=True)
    form = {
        "csrf_token": _csrf(page.get_data(as_text=True)),
        "unit_type": "budget_unit",
        "invoice_title": "东丽区某中学",
        "tax_id": "91120110MA0000001X",
        "name": "采购员",
        "email": "school@example.cn",
        "password": "password-123",
    }
    r = client.post("/work-units/register", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="error-tax_id"' in html and "校验位" in html
    form["tax_id"] = credit_code()
    ok = client.post("/work-units/register", data=form)
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/work-units/me")
    home = client.get("/work-units/me").get_data(as_text=True)
    assert "待认证" in home and "东丽区某中学" in home


def test_officer_verifies_sets_a_quota_and_issues_cards_shown_once(api, client, shop):
    uid = register_unit(api, "union@example.cn", title="东丽区总工会", unit_type="trade_union")
    _login(client, "admin@example.cn")
    listing = client.get("/staff/work-units?verification=pending").get_data(as_text=True)
    assert "东丽区总工会" in listing and "待认证" in listing
    page = client.get(f"/staff/work-units/{uid}").get_data(as_text=True)
    token = _csrf(page)
    assert (
        client.post(
            f"/staff/work-units/{uid}/verify", data={"csrf_token": token, "note": "已核验营业执照"}
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"/staff/work-units/{uid}/quota", data={"csrf_token": token, "year": "2026", "amount": "5000"}
        ).status_code
        == 302
    )
    bad = client.post(
        f"/staff/work-units/{uid}/quota", data={"csrf_token": token, "year": "2026", "amount": "abc"}
    )
    assert bad.status_code == 422
    issued = client.post(
        f"/staff/work-units/{uid}/cards",
        data={"csrf_token": token, "count": "2", "value": "200", "expires_on": "2099-01-01"},
    )
    html = issued.get_data(as_text=True)
    assert issued.status_code == 422  # more than five years ahead
    from datetime import timedelta

    from shop.core import clock

    issued = client.post(
        f"/staff/work-units/{uid}/cards",
        data={
            "csrf_token": token,
            "count": "2",
            "value": "200",
            "expires_on": (clock.today() + timedelta(days=60)).isoformat(),
        },
    )
    html = issued.get_data(as_text=True)
    codes = re.findall(r"<code>([0-9A-Z-]{19})</code>", html)
    assert issued.status_code == 200 and len(codes) == 2 and issued.headers["Cache-Control"] == "no-store"
    again = client.get(f"/staff/work-units/{uid}").get_data(as_text=True)
    assert codes[0] not in again and "已认证" in again
    quotas = client.get("/staff/work-units/quotas?year=2026&sort=name&order=desc").get_data(as_text=True)
    assert "东丽区总工会" in quotas and "¥5,000.00" in quotas
    xlsx = client.get("/staff/work-units/quotas.xlsx?year=2026")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PickupCard)) == 2
    assert db.session.scalar(select(WorkUnit.verification).where(WorkUnit.account_id == uid)) == "verified"


def test_the_order_page_pays_with_a_card_and_asks_for_the_invoice(api, client, admin, shop):
    uid = register_unit(api, "union@example.cn", title="东丽区总工会", unit_type="trade_union")
    admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    from datetime import timedelta

    from shop.core import clock

    code = admin.post(
        "/api/v1/admin/pickup-cards",
        json={
            "buyer_unit": uid,
            "count": 1,
            "value_fen": 9800,
            "expires_on": (clock.today() + timedelta(days=30)).isoformat(),
        },
    ).json["cards"][0]["code"]
    create_user("staff@example.cn")
    holder = api.as_user("staff@example.cn")
    oid = order(holder)
    _login(client, "staff@example.cn")
    page = client.get(f"/orders/{oid}").get_data(as_text=True)
    assert 'id="card-code"' in page and "提货卡" in page
    token = _csrf(page)
    r = client.post(
        f"/orders/{oid}/pay-card", data={"csrf_token": token, "code": code}, follow_redirects=True
    )
    assert "已用提货卡付款" in r.get_data(as_text=True)
    after = client.get(f"/orders/{oid}").get_data(as_text=True)
    assert "提货卡付款的订单" in after  # no invoice here: the unit is invoiced for the cards
    # A unit buyer's own paid order asks for its invoice from the page.
    unit = api.as_user("union@example.cn")
    own = order(unit)
    assert unit.post(f"/api/v1/orders/{own}/payments/account").status_code == 200
    _login(client, "union@example.cn")
    page = client.get(f"/orders/{own}").get_data(as_text=True)
    assert "申请开票" in page and 'id="pay-account"' not in page
    client.post(
        f"/orders/{own}/invoice",
        data={"csrf_token": _csrf(page), "kind": "normal", "title": "东丽区总工会", "tax_id": ""},
    )
    db.session.rollback()
    inv = db.session.scalar(select(Invoice).where(Invoice.order_id == own))
    assert inv is not None and inv.status == "requested"
    # Staff issue it from the queue with the number and the PDF; the buyer downloads it.
    _login(client, "officer@example.cn")
    queue = client.get("/staff/invoices").get_data(as_text=True)
    assert "东丽区总工会" in queue
    r = client.post(
        f"/staff/invoices/{inv.id}/issue",
        data={"csrf_token": _csrf(queue), "number": "12345678", "file": (io.BytesIO(PDF), "fp.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    _login(client, "union@example.cn")
    page = client.get(f"/orders/{own}").get_data(as_text=True)
    assert "12345678" in page and f"/invoices/{inv.id}/pdf" in page
    assert client.get(f"/invoices/{inv.id}/pdf").data == PDF


def test_bulk_upload_page_lists_each_bad_row(api, client, admin, shop):
    uid = register_unit(api, "union@example.cn")
    admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    _login(client, "union@example.cn")
    page = client.get("/work-units/me/bulk").get_data(as_text=True)
    content = f"收货人,电话,区,详细地址,商品编码,数量\n张三,13800000001,朝阳区,某路1号,{SKU},1\n".encode()
    r = client.post(
        "/work-units/me/bulk",
        data={"csrf_token": _csrf(page), "file": (io.BytesIO(content), "x.csv")},
        content_type="multipart/form-data",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="bulk-errors"' in html
    assert "<td>2</td><td>district</td>" in html and "天津市的区" in html
