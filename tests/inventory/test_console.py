"""The operator console pages (server-rendered, Chinese first), driven through the test client."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from shop.core import clock
from shop.core.db import db
from shop.inventory.models import CounterSale, StockCount, Transfer
from tests.inventory.factories import ADMIN, BUYER, OP_HM, OP_WH, PASSWORD, level, lots, put

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _csrf(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


def login(client, email: str) -> None:
    token = _csrf(client, "/login")
    r = client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


def _form(client, url: str, data: dict, **kw):
    page = client.get(url).get_data(as_text=True)
    token = CSRF.search(page).group(1)
    return client.post(url, data={"csrf_token": token, **data}, **kw), page


def test_operator_lands_on_their_hall_and_sees_lots(world, client):
    put("APL-5KG", "DL-HM", 4, lot="HN-01", best_before=clock.today() + timedelta(days=20))
    login(client, OP_HM)
    r = client.get("/console/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/DL-HM/")
    html = client.get("/console/DL-HM/").get_data(as_text=True)
    assert "华明馆" in html and "HN-01" in html and "柜台销售" in html and "先到期先出" in html
    assert client.get("/console/DL-WX/").status_code == 403


def test_admin_chooses_among_all_locations(world, client):
    login(client, ADMIN)
    html = client.get("/console/").get_data(as_text=True)
    assert "GG-WH" in html and "DL-WX" in html and "IN-TRANSIT" not in html


def test_customers_and_strangers_are_kept_out(world, client):
    r = client.get("/console/DL-HM/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    login(client, BUYER)
    assert client.get("/console/DL-HM/").status_code == 403


def test_counter_sale_form_records_once_even_if_resubmitted(world, client):
    put("SHOE-1", "DL-HM", 5)
    login(client, OP_HM)
    page = client.get("/console/DL-HM/sale").get_data(as_text=True)
    client_sale_id = re.search(r'name="client_sale_id" value="([^"]+)"', page).group(1)
    token = CSRF.search(page).group(1)
    data = {"csrf_token": token, "client_sale_id": client_sale_id, "qty-SHOE-1": "2", "paid_with": "wechat"}
    first = client.post("/console/DL-HM/sale", data=data)
    assert first.status_code == 302
    receipt = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "销售已记录" in receipt and "196.00" in receipt and "微信支付" in receipt
    again = client.post("/console/DL-HM/sale", data=data)  # the operator tapped twice / refreshed
    assert again.headers["Location"] == first.headers["Location"]
    assert "之前已经记录过" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert level("SHOE-1", "DL-HM") == (3, 0)
    assert db.session.scalar(select(func.count()).select_from(CounterSale)) == 1
    sales_page = client.get("/console/DL-HM/sales").get_data(as_text=True)
    assert "共 1 笔销售" in sales_page


def test_counter_sale_form_errors_change_nothing(world, client):
    put("SHOE-1", "DL-HM", 1)
    login(client, OP_HM)
    r, _ = _form(
        client, "/console/DL-HM/sale", {"client_sale_id": "c1", "qty-SHOE-1": "3", "paid_with": "cash"}
    )
    assert r.status_code == 422 and "not enough SHOE-1" in r.get_data(as_text=True)
    r, _ = _form(client, "/console/DL-HM/sale", {"client_sale_id": "c2", "qty-SHOE-1": "1"})
    assert r.status_code == 422 and "请选择顾客的付款方式" in r.get_data(as_text=True)
    r, _ = _form(
        client, "/console/DL-HM/sale", {"client_sale_id": "c3", "qty-SHOE-1": "x", "paid_with": "cash"}
    )
    assert r.status_code == 422
    assert level("SHOE-1", "DL-HM") == (1, 0)


def test_receive_a_consignment_from_the_console(world, client, api):
    put("SHOE-1", "GG-WH", 10)
    tid = (
        api.as_user(OP_WH)
        .post(
            "/api/v1/transfers",
            json={"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "SHOE-1", "quantity": 6}]},
        )
        .json["id"]
    )
    login(client, OP_HM)
    assert "C0000" in client.get("/console/DL-HM/receive").get_data(as_text=True)
    line_id = db.session.scalar(select(Transfer)).lines[0].id
    r, page = _form(
        client,
        f"/console/transfers/{tid}",
        {f"received-{line_id}": "4", f"damaged-{line_id}": "1", "final": "1"},
    )
    assert "到货破损" in page
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已签收" in html and "短少" in html
    assert level("SHOE-1", "DL-HM") == (4, 0)


def _consignment(api, quantity: int) -> int:
    put("SHOE-1", "GG-WH", 10)
    r = api.as_user(OP_WH).post(
        "/api/v1/transfers",
        json={"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "SHOE-1", "quantity": quantity}]},
    )
    assert r.status_code == 201, r.json
    return r.json["id"]


def test_receiving_more_than_was_sent_from_the_console_is_refused_and_kept(world, client, api):
    tid = _consignment(api, 6)
    login(client, OP_HM)
    line_id = db.session.scalar(select(Transfer)).lines[0].id
    r, _ = _form(client, f"/console/transfers/{tid}", {f"received-{line_id}": "7", "final": "1"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "6 in transit" in html and "多于发货数量（已拒收）" in html
    assert level("SHOE-1", "DL-HM") == (0, 0)
    got = api.as_user(OP_HM).get(f"/api/v1/transfers/{tid}").json
    assert got["status"] == "in_transit"
    assert [(d["kind"], d["quantity"]) for d in got["discrepancies"]] == [("over", 1)]


def test_cancel_a_transfer_from_the_console_only_while_nothing_was_received(world, client, api):
    tid = _consignment(api, 6)
    login(client, OP_WH)
    page = client.get(f"/console/transfers/{tid}").get_data(as_text=True)
    assert "撤回此调拨" in page
    token = CSRF.search(page).group(1)
    r = client.post(f"/console/transfers/{tid}/cancel", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/transfers/{tid}")
    assert level("SHOE-1", "GG-WH") == (10, 0)
    assert db.session.get(Transfer, tid).status == "cancelled"

    partly = _consignment(api, 4)
    r = api.as_user(OP_HM).post(
        f"/api/v1/transfers/{partly}/receive",
        json={"lines": [{"sku": "SHOE-1", "quantity": 1}], "final": False},
    )
    assert r.status_code == 200 and r.json["status"] == "partially_received"
    page = client.get(f"/console/transfers/{partly}").get_data(as_text=True)
    assert "撤回此调拨" not in page
    token = CSRF.search(page).group(1)
    r = client.post(f"/console/transfers/{partly}/cancel", data={"csrf_token": token})
    assert r.status_code == 302
    assert db.session.get(Transfer, partly).status == "partially_received"


def test_transfer_adjust_count_alerts_and_history_pages(world, client):
    put("SHOE-1", "DL-HM", 6)
    put("APL-5KG", "DL-HM", 3, lot="L1", best_before=clock.today() + timedelta(days=2))
    login(client, OP_HM)
    r, _ = _form(
        client, "/console/DL-HM/transfer", {"to": "DL-WX", "qty-SHOE-1": "2", "reference": "车 津A123"}
    )
    assert r.status_code == 302 and level("SHOE-1", "DL-HM") == (4, 0)
    r, _ = _form(
        client,
        "/console/DL-HM/adjust",
        {"sku": "SHOE-1", "direction": "remove", "quantity": "1", "reason": "damage"},
    )
    assert r.status_code == 302 and level("SHOE-1", "DL-HM") == (3, 0)
    r, _ = _form(
        client,
        "/console/DL-HM/adjust",
        {"sku": "SHOE-1", "direction": "remove", "quantity": "9", "reason": "lost"},
    )
    assert r.status_code == 422 and level("SHOE-1", "DL-HM") == (3, 0)
    lot_id = re.search(r'name="lot-(\d+)"', client.get("/console/DL-HM/count").get_data(as_text=True)).group(
        1
    )
    r, _ = _form(client, "/console/DL-HM/count", {f"lot-{lot_id}": "2", "sku-SHOE-1": ""})
    assert r.status_code == 302 and lots("APL-5KG", "DL-HM") == {"L1": 2}
    assert "-1" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(StockCount)) == 1
    alerts = client.get("/console/DL-HM/alerts?days=3").get_data(as_text=True)
    assert "L1" in alerts and "低库存" in alerts
    r, _ = _form(client, "/console/DL-HM/alerts", {"sku": "SHOE-1", "threshold": "10"})
    assert r.status_code == 302
    assert "SHOE-1" in client.get("/console/DL-HM/alerts").get_data(as_text=True)
    history = client.get("/console/DL-HM/movements?kind=damage").get_data(as_text=True)
    assert "共 1 条记录" in history and OP_HM in history
    assert "共 0 条记录" in client.get("/console/DL-HM/movements?since=2999-01-01").get_data(as_text=True)
    assert client.get("/console/DL-HM/movements?since=yesterday").status_code == 422
