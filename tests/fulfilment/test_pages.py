"""Operator pages: the hall's orders with pick lists by lot, hand-over by code, shipping, the queues page;
the buyer sees the pickup code or the tracking number on the order page."""

import re

from sqlalchemy import select

from shop.core.db import db
from shop.fulfilment.models import PickupTicket
from shop.orders.models import Order
from tests.conftest import create_user
from tests.fulfilment.helpers import SHIP, paid_order
from tests.orders.helpers import buyer


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login(client, email, password="password-123"):
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": _csrf(page)})
    assert r.status_code == 302, r.get_data(as_text=True)


def _status(order_id):
    db.session.rollback()
    return db.session.get(Order, order_id).status


def test_operator_hands_over_a_pickup_by_code(inline, client):
    staff = create_user("op@example.cn", role="operator", locations=["DL-HM"])
    order_id = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 2)])
    code = db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == order_id))
    _login(client, "op@example.cn")
    home = client.get("/")
    assert "/console/fulfilment/" in home.get_data(as_text=True)  # nav link for operators
    r = client.get("/console/fulfilment/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/fulfilment/DL-HM")
    hall = client.get("/console/fulfilment/DL-HM?lang=en").get_data(as_text=True)
    number = db.session.get(Order, order_id).number
    assert number in hall and "Awaiting pickup (1)" in hall and "CHL-LINE-500G-" in hall and code not in hall
    pick = client.get("/console/fulfilment/DL-HM/pick-list").get_data(as_text=True)
    assert "CHL-LINE-500G" in pick and "<strong>2</strong>" in pick

    form = client.get("/console/fulfilment/DL-HM/handover").get_data(as_text=True)
    shown = client.post("/console/fulfilment/DL-HM/handover", data={"code": code, "csrf_token": _csrf(form)})
    page = shown.get_data(as_text=True)
    assert number in page and 'id="confirm-handover"' in page and _status(order_id) == "ready_for_pickup"
    nope = client.post("/console/fulfilment/DL-HM/handover", data={"code": "12", "csrf_token": _csrf(form)})
    assert 'id="confirm-handover"' not in nope.get_data(as_text=True)
    assert "No pickup is waiting here with this code." in nope.get_data(as_text=True)
    no_csrf = client.post("/console/fulfilment/DL-HM/handover", data={"code": code, "confirm": "1"})
    assert no_csrf.status_code == 400 and _status(order_id) == "ready_for_pickup"
    done = client.post(
        "/console/fulfilment/DL-HM/handover", data={"code": code, "confirm": "1", "csrf_token": _csrf(page)}
    )
    assert done.status_code == 302 and _status(order_id) == "completed"


def test_operator_ships_and_marks_delivered_and_buyer_sees_tracking(inline, client):
    staff = create_user("wh@example.cn", role="operator", locations=["GG-WH"])
    b = create_user("buyer@example.cn")
    order_id = paid_order(b, staff, lines=[("PEP-DHP-250G", 1)], delivery=SHIP)
    _login(client, "wh@example.cn")
    page = client.get(f"/console/fulfilment/orders/{order_id}").get_data(as_text=True)
    assert 'name="tracking_number"' in page
    r = client.post(
        f"/console/fulfilment/orders/{order_id}/ship",
        data={
            "courier": "sf",
            "tracking_number": "SF1234567890",
            "csrf_token": _csrf(page),
            "next": "https://evil.example/",
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == f"/console/fulfilment/orders/{order_id}"
    assert _status(order_id) == "shipped"
    page = client.get(f"/console/fulfilment/orders/{order_id}").get_data(as_text=True)
    client.post(f"/console/fulfilment/orders/{order_id}/delivered", data={"csrf_token": _csrf(page)})
    assert _status(order_id) == "completed"

    other = client.application.test_client()
    _login(other, "buyer@example.cn")
    mine = other.get(f"/orders/{order_id}?lang=en").get_data(as_text=True)
    assert 'id="tracking-number">SF1234567890' in mine and "Your order is complete" in mine


def test_buyer_sees_the_pickup_code_and_other_halls_see_nothing(inline, client):
    staff = create_user("op@example.cn", role="operator", locations=["DL-HM"])
    create_user("wx@example.cn", role="operator", locations=["DL-WX"])
    b = create_user("buyer@example.cn")
    order_id = paid_order(b, staff)
    code = db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == order_id))
    _login(client, "buyer@example.cn")
    assert f'id="pickup-code">{code}<' in client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert client.get("/console/fulfilment/DL-HM").status_code == 403  # customers are not staff

    other = client.application.test_client()
    _login(other, "wx@example.cn")
    assert other.get("/console/fulfilment/DL-HM").status_code == 403
    assert other.get(f"/console/fulfilment/orders/{order_id}").status_code == 403
    assert other.get("/console/fulfilment/queues").status_code == 403


def test_admin_queues_page_shows_outbox_and_failures(inline, client):
    from shop.core.outbox import record_failure

    create_user("admin@example.cn", role="admin")
    record_failure(
        task="shop.fulfilment.fulfil_order",
        task_id="t-1",
        kwargs={"order_id": 7},
        error="Boom: x",
        traceback="Traceback...",
        outbox_id=None,
    )
    _login(client, "admin@example.cn")
    page = client.get("/console/fulfilment/queues?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Boom: x" in html and 'data-queue="fulfilment"' in html
    assert "Not sent yet: 0" in html
    index = client.get("/console/fulfilment/").get_data(as_text=True)
    assert "DL-HM" in index and "GG-WH" in index  # admins see every location
