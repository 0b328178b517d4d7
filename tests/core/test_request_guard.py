"""Bad input is a problem+json 4xx before any parser or view sees it, never a 500 (issue #13, item 7).

Each case was a 500 (or slipped through) before ``shop.core.inputs``: a lone surrogate in an email, a SKU
or a location (the database driver cannot encode it), JSON nested 1,000 deep (RecursionError), a chunked
text/plain body (no Content-Length, so the content-type check never looked), and an over-long URL.
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.core.db import db
from shop.orders.models import Order
from tests.conftest import create_user
from tests.orders.helpers import auth, buyer, order_body

SURROGATE = "\\ud800"  # as JSON text: a valid escape of a character Unicode does not have


def _post_json_text(client, url: str, text: str, headers: dict | None = None):
    return client.post(
        url, data=text.encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"
    return r.json


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_lone_surrogate_in_an_email_is_422(app, client):
    for url in ("/api/v1/auth/register", "/api/v1/auth/token"):
        text = json.dumps({"email": "EMAIL", "password": "password-123", "name": "李明"})
        body = _problem(_post_json_text(client, url, text.replace("EMAIL", f"li{SURROGATE}@example.cn")), 422)
        assert body["errors"] == [
            {"field": "email", "message": "contains a NUL or an unpaired surrogate character"}
        ]
    assert _count(User) == 0


def test_a_lone_surrogate_in_a_sku_or_location_is_422(seeded, client):
    headers = auth(buyer())
    cases = {
        "lines.0.sku": json.dumps(order_body(sku="SKU")).replace('"SKU"', f'"CHL{SURROGATE}"'),
        "delivery.location": json.dumps(order_body()).replace('"DL-HM"', f'"DL{SURROGATE}"'),
    }
    for field, text in cases.items():
        body = _problem(_post_json_text(client, "/api/v1/orders", text, headers), 422)
        assert [e["field"] for e in body["errors"]] == [field]
    staff = auth(create_user("op@x.cn", role="operator", locations=["DL-HM"]))
    adjustment = json.dumps({"sku": "SKU", "quantity_delta": 1, "reason": "found"}).replace(
        '"SKU"', f'"CHL{SURROGATE}"'
    )
    _problem(_post_json_text(client, "/api/v1/locations/DL-HM/adjustments", adjustment, staff), 422)
    # A key can carry one too.
    _problem(_post_json_text(client, "/api/v1/orders", '{"lines\\udc00": []}', headers), 422)
    assert _count(Order) == 0


def test_a_nul_in_a_query_or_path_is_422_not_a_database_error(seeded, client):
    body = _problem(client.get("/api/v1/products?q=chili%00"), 422)
    assert body["errors"] == [{"field": "q", "message": "contains a NUL character"}]
    staff = auth(create_user("op@x.cn", role="operator", locations=["DL-HM"]))
    _problem(client.get("/api/v1/locations/DL%00HM/stock", headers=staff), 422)


def test_a_nul_in_a_page_form_is_a_4xx_page(seeded, client):
    r = client.get("/products?q=%00")
    assert r.status_code == 422 and r.mimetype == "text/html"


@pytest.mark.parametrize("depth", [1000, 33])
def test_deeply_nested_json_is_400(seeded, client, depth):
    text = "[" * depth + "]" * depth
    body = _problem(_post_json_text(client, "/api/v1/orders", text, auth(buyer())), 400)
    assert "nested too deeply" in body["detail"]
    deep_object = '{"a":' * depth + "1" + "}" * depth
    _problem(_post_json_text(client, "/api/v1/auth/register", deep_object), 400)


def test_ordinary_nesting_still_works(seeded, client):
    r = client.post("/api/v1/orders", json=order_body(), headers=auth(buyer()))
    assert r.status_code == 201, r.json


def _chunked(client, url: str, payload: bytes, content_type: str, headers: dict | None = None):
    """A body sent with Transfer-Encoding: chunked: no Content-Length at all; the server (gunicorn) marks
    the input as terminated, so the app may read it to its end."""
    return client.post(
        url,
        input_stream=io.BytesIO(payload),
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked", "Content-Type": content_type, **(headers or {})},
    )


def test_a_chunked_body_of_another_type_is_415(seeded, client):
    headers = auth(buyer())
    r = _chunked(client, "/api/v1/orders", json.dumps(order_body()).encode(), "text/plain", headers)
    _problem(r, 415)
    assert _count(Order) == 0
    # The same body as JSON, chunked, is an order like any other.
    r = _chunked(client, "/api/v1/orders", json.dumps(order_body()).encode(), "application/json", headers)
    assert r.status_code == 201, r.get_data(as_text=True)


def test_a_large_chunked_body_is_413(seeded, client):
    big = json.dumps({"lines": [], "delivery": {"type": "pickup", "location": "x" * (2 * 1024 * 1024)}})
    _problem(_chunked(client, "/api/v1/orders", big.encode(), "application/json", auth(buyer())), 413)


def test_an_over_long_url_is_414_problem_on_the_api_and_a_page_elsewhere(seeded, client):
    long = "x" * 5000
    body = _problem(client.get(f"/api/v1/products?q={long}"), 414)
    assert body["status"] == 414
    _problem(client.get(f"/api/v1/products/{long}"), 414)
    r = client.get(f"/products?q={long}")
    assert r.status_code == 414 and r.mimetype == "text/html"
    assert client.get("/api/v1/products?q=" + "x" * 50).status_code == 200


@pytest.mark.parametrize("name", ["QB\nÔ", "a\r\nb"])
def test_a_multipart_field_whose_name_cannot_be_read_is_422(seeded, client, name):
    """Werkzeug gives a part with a line break in its name no name at all: refused, not a 500."""
    admin = create_user("guard-admin@example.cn", role="admin")
    r = client.post(
        "/api/v1/invoices/1/pdf",
        data={name: "v", "file": (io.BytesIO(b"%PDF-1.4"), "a.pdf")},
        headers=auth(admin),
        content_type="multipart/form-data",
    )
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.json["errors"] == [{"field": "(unnamed)", "message": "a form field without a readable name"}]
