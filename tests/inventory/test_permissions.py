"""Who may do what where: operators only at their granted locations, admins everywhere, others nowhere."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.core.db import db
from shop.inventory.models import StockMovement
from tests.inventory.factories import ADMIN, BUYER, OFFICER, OP_HM, OP_WX, put

# (method, path, body) at hall DL-HM
ENDPOINTS = [
    ("GET", "/api/v1/locations/DL-HM/stock", None),
    ("GET", "/api/v1/locations/DL-HM/low-stock", None),
    ("GET", "/api/v1/locations/DL-HM/expiring", None),
    ("GET", "/api/v1/locations/DL-HM/movements", None),
    ("GET", "/api/v1/locations/DL-HM/sales", None),
    ("GET", "/api/v1/locations/DL-HM/transfers", None),
    ("PUT", "/api/v1/locations/DL-HM/thresholds/SHOE-1", {"threshold": 3}),
    ("POST", "/api/v1/locations/DL-HM/receipts", {"lines": [{"sku": "SHOE-1", "quantity": 1}]}),
    (
        "POST",
        "/api/v1/locations/DL-HM/sales",
        {"client_sale_id": "p1", "lines": [{"sku": "SHOE-1", "quantity": 1}], "paid_with": "cash"},
    ),
    (
        "POST",
        "/api/v1/locations/DL-HM/sales/batch",
        {
            "sales": [
                {"client_sale_id": "p2", "lines": [{"sku": "SHOE-1", "quantity": 1}], "paid_with": "cash"}
            ]
        },
    ),
    (
        "POST",
        "/api/v1/locations/DL-HM/adjustments",
        {"sku": "SHOE-1", "quantity_delta": -1, "reason": "lost"},
    ),
    ("POST", "/api/v1/locations/DL-HM/counts", {"lines": [{"sku": "SHOE-1", "counted": 4}]}),
    (
        "POST",
        "/api/v1/transfers",
        {"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 1}]},
    ),
]
ALLOWED = {OP_HM: True, ADMIN: True, OP_WX: False, BUYER: False, OFFICER: False}


def _call(client, method, path, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p.split('/api/v1/')[1]}" for m, p, _ in ENDPOINTS]
)
def test_permission_matrix(world, api, method, path, body):
    put("SHOE-1", "DL-HM", 5)
    from shop.accounts.services import find_user_by_email, issue_token

    tokens = {email: issue_token(find_user_by_email(email))[0] for email in ALLOWED}
    assert _call(api.client, method, path, body).status_code == 401
    for email, allowed in ALLOWED.items():
        before = db.session.scalar(select(StockMovement.id).order_by(StockMovement.id.desc()).limit(1))
        r = _call(api.client, method, path, body, tokens[email])
        db.session.rollback()
        if allowed:
            assert r.status_code in (200, 201), (email, r.json)
        else:
            assert r.status_code == 403, (email, r.json)
            assert r.content_type == "application/problem+json"
            after = db.session.scalar(select(StockMovement.id).order_by(StockMovement.id.desc()).limit(1))
            assert after == before, f"{email} changed stock"


def test_every_movement_records_who(world, api):
    put("SHOE-1", "DL-HM", 5)
    for method, path, body in ENDPOINTS:
        if method != "GET":
            _call(api.client, method, path, body, api.as_user(OP_HM).token)
    rows = db.session.execute(
        select(StockMovement.kind, StockMovement.actor_id).where(StockMovement.reference != "test")
    ).all()
    assert rows and all(actor is not None for _kind, actor in rows), rows


def test_transfer_receipt_and_cancel_are_for_the_right_end(world, api):
    put("SHOE-1", "DL-HM", 5)
    tid = (
        api.as_user(OP_HM)
        .post(
            "/api/v1/transfers",
            json={"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 2}]},
        )
        .json["id"]
    )
    outsider = api.as_user(BUYER)
    assert outsider.get(f"/api/v1/transfers/{tid}").status_code == 403
    assert api.as_user(OP_WX).get(f"/api/v1/transfers/{tid}").status_code == 200
    assert api.as_user(OP_HM).get(f"/api/v1/transfers/{tid}").status_code == 200
    assert api.as_user(OP_HM).post(f"/api/v1/transfers/{tid}/receive", json={"lines": []}).status_code == 403
    assert api.as_user(OP_WX).post(f"/api/v1/transfers/{tid}/cancel").status_code == 403
    assert api.as_user(ADMIN).get("/api/v1/stock/reconciliation").json["ok"] is True
    assert api.as_user(OP_HM).get("/api/v1/stock/reconciliation").status_code == 403


def test_unknown_location_is_404(world, api):
    r = api.as_user(ADMIN).get("/api/v1/locations/NOWHERE/stock")
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    r = api.as_user(OP_HM).post(
        "/api/v1/locations/NOWHERE/sales",
        json={"client_sale_id": "x", "lines": [{"sku": "SHOE-1", "quantity": 1}], "paid_with": "cash"},
    )
    assert r.status_code == 404
