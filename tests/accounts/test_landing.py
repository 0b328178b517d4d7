"""After signing in, each role lands on the page it works on, never on a 403 (issue #14, item 8)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.accounts.services import create_staff_user
from shop.catalog.models import Producer
from shop.core.db import atomic, db
from tests.accounts.helpers import csrf, web_login
from tests.conftest import create_user


def _land(client, email: str, **kw) -> str:
    r = web_login(client, email, **kw)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return r.headers["Location"]


def test_each_role_lands_on_its_work_page_and_may_open_it(seeded, client):
    create_user("admin@x.cn", role="admin")
    create_user("officer@x.cn", role="aid_officer")
    create_user("op@x.cn", role="operator", locations=["DL-HM"])
    create_user("op2@x.cn", role="operator", locations=["DL-HM", "DL-WX"])
    create_user("buyer@x.cn")
    with atomic():
        code = db.session.scalar(select(Producer.code).limit(1))
        create_staff_user(email="coop@x.cn", password="password-123", role="producer", producer_code=code)
    expected = {
        "admin@x.cn": "/admin/",
        "officer@x.cn": "/aid/",
        "op@x.cn": "/console/DL-HM/",
        "op2@x.cn": "/console/",
        "coop@x.cn": "/producer/",
        "buyer@x.cn": "/",
    }
    for email, page in expected.items():
        c = seeded.test_client()
        assert _land(c, email) == page, email
        assert c.get(page).status_code == 200, email


def test_an_aid_officer_sent_from_a_hall_page_lands_on_the_aid_dashboard(seeded, client):
    create_user("officer@x.cn", role="aid_officer")
    r = client.get("/console/")
    assert r.status_code == 302 and "next=" in r.headers["Location"]
    target = _land(client, "officer@x.cn", next="/console/")
    assert target == "/aid/" and client.get(target).status_code == 200


def test_staff_go_back_to_the_work_page_that_sent_them_to_sign_in(seeded, client):
    create_user("op@x.cn", role="operator", locations=["DL-HM"])
    assert _land(client, "op@x.cn", next="/console/DL-HM/sale") == "/console/DL-HM/sale"
    c = seeded.test_client()
    assert _land(c, "op@x.cn", next="/products") == "/console/DL-HM/"  # a public page: start at work


def test_a_customer_goes_back_where_they_came_from(app, client):
    create_user("buyer@x.cn")
    page = client.get("/login", headers={"Referer": "http://localhost/products?category=apple"})
    assert 'value="/products?category=apple"' in page.get_data(as_text=True)
    data = {
        "csrf_token": csrf(client),
        "email": "buyer@x.cn",
        "password": "password-123",
        "next": "/products?category=apple",
    }
    assert client.post("/login", data=data).headers["Location"] == "/products?category=apple"
    c = app.test_client()
    assert _land(c, "buyer@x.cn", next="/staff/orders") == "/"  # not a page for customers


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/%0d%0aSet-Cookie:x",
        "javascript:alert(1)",
    ],
)
def test_sign_in_never_sends_anyone_off_site(app, client, target):
    create_user("buyer@x.cn")
    assert _land(client, "buyer@x.cn", next=target) == "/"


def test_signed_in_visitors_of_the_sign_in_page_go_to_their_page(app, client):
    create_user("officer@x.cn", role="aid_officer")
    _land(client, "officer@x.cn")
    r = client.get("/login")
    assert r.status_code == 302 and r.headers["Location"] == "/aid/"
