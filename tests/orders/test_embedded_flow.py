"""The order path on both databases: PostgreSQL and the embedded SQLite default."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core.db import atomic, db, utcnow
from shop.demo import seed_demo
from shop.inventory.services import reconcile
from shop.orders.models import Order
from shop.orders.services import expire_unpaid_orders
from tests.conftest import create_user
from tests.orders.helpers import auth, buyer, order_body, reserved


@pytest.fixture
def shop(any_app):
    with atomic():
        seed_demo()
    return any_app


def test_checkout_pay_refund_and_expire(shop):
    client = shop.test_client()
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    b = buyer()
    short = client.post("/api/v1/orders", json=order_body(quantity=21), headers=auth(b))
    assert short.status_code == 409 and short.json["sku"] == "CHL-LINE-500G"
    paid = client.post("/api/v1/orders", json=order_body(quantity=4), headers=auth(b)).json
    r = client.post(
        f"/api/v1/orders/{paid['id']}/payments/manual", json={"method": "transfer"}, headers=auth(staff)
    )
    assert r.status_code == 200 and r.json["status"] == "paid"
    r = client.post(
        f"/api/v1/orders/{paid['id']}/refunds",
        json={"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}], "reason": "broken"},
        headers=auth(staff),
    )
    assert r.status_code == 201 and r.json["order"]["refunded_fen"] == 2800
    unpaid = client.post("/api/v1/orders", json=order_body(quantity=5), headers=auth(b)).json
    assert reserved("CHL-LINE-500G", "DL-HM") == 3 + 5
    assert expire_unpaid_orders(now=utcnow() + timedelta(days=5)) == 1
    assert db.session.get(Order, unpaid["id"]).status == "expired"
    assert reserved("CHL-LINE-500G", "DL-HM") == 3
    total = db.session.scalar(select(func.sum(AidEntry.amount_fen)))
    assert total == 4 * 2800 - 2800 and reconcile() == []
