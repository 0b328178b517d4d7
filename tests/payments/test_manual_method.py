"""The manual payment's method is checked by the service, whoever calls it (issue #13, item 10)."""

import re

import pytest
from sqlalchemy import func, select

from shop.audit.models import AuditEvent
from shop.core.db import atomic, db
from shop.orders.models import Order
from shop.payments.errors import UnknownPaymentMethod
from shop.payments.models import Payment
from shop.payments.services import confirm_manual_payment
from tests.conftest import create_user
from tests.orders.helpers import auth, buyer, order_body


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _order(client) -> int:
    r = client.post("/api/v1/orders", json=order_body(), headers=auth(buyer()))
    assert r.status_code == 201, r.json
    return r.json["id"]


def test_the_service_refuses_a_method_the_shop_does_not_take(seeded, client):
    staff = create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order_id = _order(client)
    with pytest.raises(UnknownPaymentMethod) as err, atomic():
        confirm_manual_payment(order_id, staff=staff, method="bitcoin")
    assert err.value.status == 422 and err.value.errors[0]["field"] == "method"
    db.session.rollback()
    assert db.session.get(Order, order_id).status == "pending_payment"
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


def test_the_staff_form_cannot_store_bitcoin(seeded, client):
    create_user("op@x.cn", role="operator", locations=["DL-HM"])
    order_id = _order(client)
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": "op@x.cn", "password": "password-123", "csrf_token": _csrf(page)})
    page = client.get(f"/staff/orders/{order_id}").get_data(as_text=True)
    r = client.post(
        f"/staff/orders/{order_id}/confirm-payment",
        data={"csrf_token": _csrf(page), "method": "bitcoin", "amount_yuan": "", "reference": ""},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "flash error" in r.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Order, order_id).status == "pending_payment"
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
    assert not db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "order.payment_confirmed")
    ).all()
