"""Refund requests (issue #13, item 6): a buyer's cancellation of a paid order, or a request for a damaged
or wrong item, waits for staff of the order's location, who are told; approving refunds through the
gateway that took the money, rejecting tells the buyer why; every step is in the audit log."""

from __future__ import annotations

import re
import threading

from sqlalchemy import func, select

from shop.aid.reconcile import reconcile as reconcile_aid
from shop.audit.models import AuditEvent
from shop.catalog.services import get_location
from shop.core.db import atomic, db
from shop.fulfilment.models import PickupTicket
from shop.fulfilment.services import hand_over
from shop.inventory.services import reconcile
from shop.notifications.models import Notification
from shop.orders.models import Order
from shop.payments.models import Refund
from shop.returns.models import RefundRequest
from tests.conftest import create_user
from tests.orders.helpers import auth, buyer, order_body, reserved

CASH_ORDER = {
    "lines": [{"sku": "CHL-LINE-500G", "quantity": 2}],
    "delivery": {"type": "pickup", "location": "DL-HM"},
}


def _paid(client, b, staff, body=None) -> dict:
    r = client.post("/api/v1/orders", json=body or CASH_ORDER, headers=auth(b))
    assert r.status_code == 201, r.json
    p = client.post(
        f"/api/v1/orders/{r.json['id']}/payments/manual", json={"method": "cash"}, headers=auth(staff)
    )
    assert p.status_code == 200, p.json
    return p.json


def _count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _no_drift() -> None:
    db.session.rollback()
    assert reconcile() == []
    run = reconcile_aid(trigger="test")
    assert run.difference_count == 0, run.differences


def test_a_buyer_cancelling_a_cash_paid_order_asks_the_hall(inline_outbox, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    b = buyer()
    order = _paid(client, b, staff)
    r = client.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "买多了"}, headers=auth(b))
    assert r.status_code == 202, r.json
    assert r.json["status"] == "open" and r.json["reason"] == "cancel" and r.json["note"] == "买多了"
    db.session.rollback()
    stored = db.session.get(Order, order["id"])
    assert stored.status == "paid" and stored.refunded_fen == 0  # nothing paid out yet
    assert _count(Refund) == 0 and reserved("CHL-LINE-500G", "DL-HM") == 2
    hall = db.session.scalar(select(Notification).where(Notification.kind == "refund_request"))
    assert hall.location_id == stored.location_id and order["number"] in hall.subject
    assert "refund_request.created" in _actions()
    # Asking twice: the first request is still open.
    again = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b))
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    # The direct use case refuses a buyer too: no path refunds without the hall.
    from shop.orders.errors import RefundRequestNeeded
    from shop.orders.services import cancel_order

    try:
        with atomic():
            cancel_order(order["id"], actor=b)
    except RefundRequestNeeded:
        pass
    else:  # pragma: no cover
        raise AssertionError("a buyer cancelled a paid order directly")


def test_an_unpaid_order_is_still_cancelled_at_once(seeded, client):
    b = buyer()
    order = client.post("/api/v1/orders", json=CASH_ORDER, headers=auth(b)).json
    r = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b))
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert reserved("CHL-LINE-500G", "DL-HM") == 0 and _count(RefundRequest) == 0


def test_staff_approve_and_the_refund_goes_out_through_the_manual_gateway(inline_outbox, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    elsewhere = create_user("op2@x.cn", role="operator", locations=["DL-WX"])
    b = buyer()
    order = _paid(client, b, staff)
    req = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b)).json
    listing = client.get("/api/v1/refund-requests?status=open", headers=auth(staff)).json
    assert [x["id"] for x in listing["items"]] == [req["id"]] and listing["total"] == 1
    assert client.get("/api/v1/refund-requests?status=open", headers=auth(elsewhere)).json["total"] == 0
    assert (
        client.post(
            f"/api/v1/refund-requests/{req['id']}/approve", json={}, headers=auth(elsewhere)
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/refund-requests/{req['id']}/approve", json={}, headers=auth(b)).status_code
        == 403
    )

    r = client.post(f"/api/v1/refund-requests/{req['id']}/approve", json={"note": "ok"}, headers=auth(staff))
    assert r.status_code == 200, r.json
    assert r.json["refund_request"]["status"] == "approved" and r.json["order"]["status"] == "cancelled"
    assert r.json["refund"]["amount_fen"] == order["total_fen"]
    db.session.rollback()
    refund = db.session.scalar(select(Refund))
    assert refund.gateway == "manual" and refund.status == "succeeded"  # sent by the task after commit
    assert reserved("CHL-LINE-500G", "DL-HM") == 0
    assert "refund_request.approved" in _actions()
    again = client.post(f"/api/v1/refund-requests/{req['id']}/approve", json={}, headers=auth(staff))
    assert again.status_code == 409
    _no_drift()


def test_staff_reject_with_a_reason_the_buyer_reads(seeded, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    b = buyer()
    order = _paid(client, b, staff)
    req = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b)).json
    assert (
        client.post(f"/api/v1/refund-requests/{req['id']}/reject", json={}, headers=auth(staff)).status_code
        == 422
    )
    r = client.post(
        f"/api/v1/refund-requests/{req['id']}/reject",
        json={"reason": "已备货，请到馆自提"},
        headers=auth(staff),
    )
    assert r.status_code == 200 and r.json["status"] == "rejected"
    assert r.json["decision_note"] == "已备货，请到馆自提"
    db.session.rollback()
    assert db.session.get(Order, order["id"]).status == "paid" and _count(Refund) == 0
    told = db.session.scalar(select(Notification).where(Notification.kind == "refund_request_rejected"))
    assert told.user_id == b.id and "已备货" in told.body
    assert "refund_request.rejected" in _actions()
    # The buyer sees it, another buyer does not.
    assert client.get(f"/api/v1/refund-requests/{req['id']}", headers=auth(b)).json["status"] == "rejected"
    assert (
        client.get(f"/api/v1/refund-requests/{req['id']}", headers=auth(buyer("z@x.cn"))).status_code == 404
    )
    # Decided: a new request may be made.
    assert client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b)).status_code == 202


def test_a_damaged_item_after_hand_over_is_refunded_and_restocked(inline, client):
    """Inline pipeline: paying picks the order and makes its pickup ticket."""
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    b = buyer()
    order = _paid(client, b, staff, {**CASH_ORDER, "lines": [{"sku": "CHL-LINE-500G", "quantity": 3}]})
    db.session.rollback()
    code = db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == order["id"]))
    with atomic():
        hand_over(get_location("DL-HM"), code, staff=staff)
    cancel = client.post(
        f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "cancel"}, headers=auth(b)
    )
    assert cancel.status_code == 422  # handed over: not a cancellation any more
    bad = client.post(
        f"/api/v1/orders/{order['id']}/refund-requests",
        json={"reason": "damaged", "lines": [{"sku": "CHL-LINE-500G", "quantity": 4}]},
        headers=auth(b),
    )
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "lines.0.quantity"
    key = {"Idempotency-Key": "damaged-1"}
    body = {"reason": "damaged", "note": "袋子破了", "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}]}
    r1 = client.post(f"/api/v1/orders/{order['id']}/refund-requests", json=body, headers={**auth(b), **key})
    r2 = client.post(f"/api/v1/orders/{order['id']}/refund-requests", json=body, headers={**auth(b), **key})
    assert r1.status_code == r2.status_code == 201 and r1.json == r2.json
    assert _count(RefundRequest) == 1
    r = client.post(
        f"/api/v1/refund-requests/{r1.json['id']}/approve",
        json={"restock_location": "DL-HM"},
        headers=auth(staff),
    )
    assert r.status_code == 200, r.json
    assert r.json["refund"]["amount_fen"] == 2800 and r.json["order"]["status"] == "partially_refunded"
    _no_drift()


def test_a_buyer_cancelling_at_the_hall_gets_the_goods_put_back_on_approval(inline, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    b = buyer()
    order = _paid(client, b, staff)
    db.session.rollback()
    assert db.session.get(Order, order["id"]).status == "ready_for_pickup"
    req = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b))
    assert req.status_code == 202
    r = client.post(f"/api/v1/refund-requests/{req.json['id']}/approve", json={}, headers=auth(staff))
    assert r.status_code == 200 and r.json["order"]["status"] == "refunded"
    db.session.rollback()
    assert db.session.scalar(select(PickupTicket.status)) == "cancelled"
    _no_drift()


def test_two_staff_approving_at_once_refund_once(seeded):
    staff = [create_user(f"op{i}@x.cn", role="operator", locations=["DL-HM"]) for i in range(4)]
    b = buyer()
    client = seeded.test_client()
    order = _paid(client, b, staff[0])
    req = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=auth(b)).json
    headers = [auth(s) for s in staff]
    go = threading.Barrier(len(staff))
    codes = []

    def approve(h):
        c = seeded.test_client()
        go.wait()
        codes.append(c.post(f"/api/v1/refund-requests/{req['id']}/approve", json={}, headers=h).status_code)

    threads = [threading.Thread(target=approve, args=(h,)) for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409]
    assert _count(Refund) == 1
    db.session.rollback()
    assert db.session.get(Order, order["id"]).refunded_fen == order["total_fen"]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"email": email, "password": "password-123", "csrf_token": _csrf(page)})
    assert r.status_code == 302


def test_pages_buyer_asks_staff_decide(seeded, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    shopper = create_user("shopper@x.cn")
    order = _paid(client, shopper, staff, order_body())
    _login(client, "shopper@x.cn")
    page = client.get(f"/orders/{order['id']}").get_data(as_text=True)
    assert 'id="cancel-order"' in page
    r = client.post(f"/orders/{order['id']}/cancel", data={"csrf_token": _csrf(page)}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert 'id="refund-request" data-status="open"' in html and 'id="cancel-order"' not in html
    client.post("/logout", data={"csrf_token": _csrf(html)})

    _login(client, "op@x.cn")
    page = client.get("/staff/refund-requests").get_data(as_text=True)
    assert order["number"] in page and 'data-status="open"' in page
    assert client.get(f"/staff/orders/{order['id']}").get_data(as_text=True).count("refund-requests") >= 1
    req_id = int(re.search(r'id="refund-request-(\d+)"', page).group(1))
    r = client.post(
        f"/staff/refund-requests/{req_id}/approve",
        data={"csrf_token": _csrf(page), "amount_yuan": "", "note": ""},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "flash ok" in r.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Order, order["id"]).status == "cancelled"
    assert db.session.scalar(select(RefundRequest.status)) == "approved"
