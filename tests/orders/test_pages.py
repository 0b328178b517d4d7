"""Consumer and staff pages: cart (anonymous and signed in), checkout, order page, my orders, staff."""

import re

from sqlalchemy import select

from shop.core.db import db
from shop.orders.models import Order
from tests.conftest import create_user
from tests.orders.helpers import reserved


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login(client, email, password="password-123"):
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": _csrf(page)})
    assert r.status_code == 302, r.get_data(as_text=True)


def _add(client, sku="CHL-LINE-500G", quantity="2"):
    page = client.get("/products/line-chili").get_data(as_text=True)
    assert 'action="/cart/add"' in page and f'value="{sku}"' in page
    return client.post(
        "/cart/add",
        data={"sku": sku, "quantity": quantity, "csrf_token": _csrf(page), "next": "/products/line-chili"},
    )


def _checkout(client, **fields):
    page = client.get("/checkout").get_data(as_text=True)
    token = re.search(r'name="checkout_token" value="([^"]+)"', page).group(1)
    data = {
        "csrf_token": _csrf(page),
        "checkout_token": token,
        "delivery_type": "pickup",
        "location": "DL-HM",
        **fields,
    }
    return client.post("/checkout", data=data), data


def test_anonymous_cart_then_sign_in_and_check_out(seeded, client):
    create_user("shopper@x.cn")
    r = _add(client)
    assert r.status_code == 302 and r.headers["Location"] == "/products/line-chili"
    cart = client.get("/cart").get_data(as_text=True)
    assert "CHL-LINE-500G" in cart and "56.00" in cart
    # Checking out needs an account; the cart survives signing in.
    r = client.get("/checkout")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    _login(client, "shopper@x.cn")
    r, data = _checkout(client)
    assert r.status_code == 302
    order = db.session.scalar(select(Order))
    assert r.headers["Location"] == f"/orders/{order.id}"
    assert order.total_fen == 5600 and order.pickup_location.code == "DL-HM"
    assert reserved("CHL-LINE-500G", "DL-HM") == 2
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert order.number in page and 'data-status="pending_payment"' in page
    # The same form posted again (double click, back button) does not make a second order.
    again = client.post("/checkout", data=data)
    assert again.headers["Location"] == f"/orders/{order.id}"
    db.session.rollback()
    assert len(db.session.scalars(select(Order)).all()) == 1
    assert "CHL-LINE-500G" not in client.get("/cart").get_data(as_text=True)  # emptied
    mine = client.get("/orders").get_data(as_text=True)
    assert order.number in mine


def test_cart_refuses_bad_input(seeded, client):
    page = client.get("/products/line-chili").get_data(as_text=True)
    token = _csrf(page)
    for data in (
        {"sku": "NOPE", "quantity": "1"},
        {"sku": "CHL-LINE-500G", "quantity": "0"},
        {"sku": "CHL-LINE-500G", "quantity": "100000"},
        {"sku": "CHL-LINE-500G", "quantity": "x"},
    ):
        r = client.post("/cart/add", data={**data, "csrf_token": token}, follow_redirects=True)
        assert r.status_code == 200 and "flash error" in r.get_data(as_text=True)
    assert "CHL-LINE-500G" not in client.get("/cart").get_data(as_text=True)
    assert (
        client.post("/cart/add", data={"sku": "CHL-LINE-500G", "quantity": "1"}).status_code == 400
    )  # no CSRF


def test_checkout_errors_keep_the_cart_and_change_nothing(seeded, client):
    create_user("shopper@x.cn")
    _login(client, "shopper@x.cn")
    _add(client)
    r, _ = _checkout(client, delivery_type="ship", location="", recipient="", phone="1", district="朝阳区")
    html = r.get_data(as_text=True)
    # Each error beside its field, in the page's language; no raw field paths (issue 15).
    assert r.status_code == 422
    assert 'id="recipient-error"' in html and "请填写" in html
    assert 'id="phone-error"' in html and "请填写 11 位手机号或固定电话" in html
    assert 'id="district-error"' in html and "请选择天津市的区" in html
    assert 'id="street_address-error"' in html
    assert "delivery.address" not in html and ": required" not in html
    r, _ = _checkout(client, location="GG-WH")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="location-error"' in html and "请选择一个自提展馆" in html
    assert db.session.scalar(select(Order)) is None and reserved("CHL-LINE-500G", "DL-HM") == 0
    assert "CHL-LINE-500G" in client.get("/cart").get_data(as_text=True)
    r, _ = _checkout(
        client,
        delivery_type="ship",
        recipient="李四",
        phone="13900001111",
        district="东丽区",
        street_address="先锋路 1 号",
    )
    assert r.status_code == 302
    assert db.session.scalar(select(Order)).location.code == "GG-WH"


def test_staff_confirm_payment_and_refund_pages(seeded, client):
    create_user("shopper@x.cn")
    create_user("op@x.cn", role="operator", locations=["DL-HM"])
    _login(client, "shopper@x.cn")
    _add(client, quantity="3")
    _checkout(client)
    order = db.session.scalar(select(Order))
    client.post("/logout", data={"csrf_token": _csrf(client.get("/cart").get_data(as_text=True))})
    _login(client, "op@x.cn")
    listing = client.get("/staff/orders?status=pending_payment").get_data(as_text=True)
    assert order.number in listing
    assert (
        client.get(f"/staff/orders?number={order.number}").headers["Location"] == f"/staff/orders/{order.id}"
    )
    page = client.get(f"/staff/orders/{order.id}").get_data(as_text=True)
    assert 'id="confirm-payment-form"' in page
    r = client.post(
        f"/staff/orders/{order.id}/confirm-payment",
        data={"csrf_token": _csrf(page), "method": "cash", "amount_yuan": "84.00", "reference": ""},
        follow_redirects=True,
    )
    assert r.status_code == 200 and 'data-status="paid"' in r.get_data(as_text=True)
    page = r.get_data(as_text=True)
    r = client.post(
        f"/staff/orders/{order.id}/refund",
        data={"csrf_token": _csrf(page), "refund-qty-CHL-LINE-500G": "1", "reason": "破损"},
        follow_redirects=True,
    )
    assert r.status_code == 200
    db.session.rollback()
    order = db.session.get(Order, order.id)
    assert order.refunded_fen == 2800 and order.status == "paid"
    r = client.post(
        f"/staff/orders/{order.id}/refund",
        data={"csrf_token": _csrf(page), "amount_yuan": "999", "reason": "too much"},
        follow_redirects=True,
    )
    assert "flash error" in r.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Order, order.id).refunded_fen == 2800


def test_pages_for_customers_only_show_their_orders(seeded, client):
    create_user("a@x.cn")
    create_user("b@x.cn")
    _login(client, "a@x.cn")
    _add(client)
    _checkout(client)
    order = db.session.scalar(select(Order))
    client.post("/logout", data={"csrf_token": _csrf(client.get("/cart").get_data(as_text=True))})
    _login(client, "b@x.cn")
    assert client.get(f"/orders/{order.id}").status_code == 404
    assert client.get("/staff/orders").status_code == 403
    assert order.number not in client.get("/orders").get_data(as_text=True)


def test_nav_shows_cart_and_my_orders(seeded, client):
    home = client.get("/").get_data(as_text=True)
    header = home.split("</header>")[0]
    assert 'href="/cart"' in header and 'href="/orders"' not in header
    # The phone tab bar always has the orders tab (it asks a visitor to sign in).
    assert 'class="tabbar"' in home
    create_user("a@x.cn")
    _login(client, "a@x.cn")
    assert 'href="/orders"' in client.get("/").get_data(as_text=True)
