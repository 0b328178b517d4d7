"""The back office's JSON API: producers, products and variants with price history, locations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from shop.audit.models import AuditEvent
from shop.catalog.models import Producer
from shop.core import clock
from shop.core.db import db
from tests.backoffice.helpers import PRODUCER, PRODUCT, admin_api, make_catalogue, patch
from tests.conftest import ApiClient, create_user
from tests.inventory.factories import put


def test_producer_is_onboarded_edited_and_a_taken_code_is_a_conflict(client):
    api = admin_api(client)
    r = api.post("/api/v1/admin/producers", json=PRODUCER)
    assert r.status_code == 201, r.json
    assert r.json["code"] == "xiping-coop" and r.json["id"] > 0
    assert r.json["township"] == "西坪镇" and r.json["township_en"] == "Xiping" and r.json["fee_bp"] == 0

    again = api.post("/api/v1/admin/producers", json={**PRODUCER, "name": "另一个"})
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert "xiping-coop" in again.json["detail"]
    assert again.json["errors"] == [{"field": "code", "message": "already taken"}]

    r = patch(api, "/api/v1/admin/producers/xiping-coop", {"fee_bp": 250, "linked_people": 160})
    assert r.status_code == 200 and r.json["fee_bp"] == 250 and r.json["linked_people"] == 160
    assert patch(api, "/api/v1/admin/producers/xiping-coop", {"fee_bp": 10_001}).status_code == 422
    bad = api.post("/api/v1/admin/producers", json={**PRODUCER, "code": "other", "township": "东丽区"})
    assert bad.status_code == 422
    assert bad.json["errors"] == [{"field": "township", "message": "not a township of Gangu County"}]
    assert db.session.scalar(select(Producer.fee_bp).where(Producer.code == "xiping-coop")) == 250
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.target_type == "producer").order_by(AuditEvent.id)
    ).all()
    assert actions == ["producer.create", "producer.update"]


def test_fee_bp_is_kept_between_0_and_10000_by_the_database_too(app):
    api = admin_api(app.test_client())
    api.post("/api/v1/admin/producers", json=PRODUCER)
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE producer SET fee_bp = 10001"))
        db.session.flush()
    db.session.rollback()


def test_product_with_two_variants_is_in_the_catalogue_at_once_and_a_taken_sku_is_named(client):
    api = admin_api(client)
    created = make_catalogue(api)
    assert [v["sku"] for v in created["variants"]] == ["XP-PEP-250G", "XP-PEP-500G"]
    listed = client.get("/api/v1/products").json
    assert [p["name"] for p in listed["items"]] == ["西坪花椒"]
    assert listed["items"][0]["images"] == []
    detail = client.get(f"/api/v1/products/{created['id']}").json
    assert detail["producer"]["linked_households"] == 42
    assert [v["price_fen"] for v in detail["variants"]] == [4500, 8500]

    clash = {**PRODUCT, "name": "另一款", "variants": [{"sku": "XP-PEP-500G", "name": "x", "price_fen": 100}]}
    r = api.post("/api/v1/admin/products", json=clash)
    assert r.status_code == 409 and "XP-PEP-500G" in r.json["detail"]
    assert r.json["errors"] == [{"field": "variants.0.sku", "message": "already taken"}]
    twice = {**PRODUCT, "variants": [PRODUCT["variants"][0] | {"sku": "NEW-1"}] * 2}
    r = api.post("/api/v1/admin/products", json=twice)
    assert (
        r.status_code == 422
        and {"field": "variants.1.sku", "message": "used twice in this form"} in r.json["errors"]
    )
    r = api.post("/api/v1/admin/products", json={**PRODUCT, "category": "nope", "variants": []})
    assert r.status_code == 422
    assert {e["field"] for e in r.json["errors"]} == {"category", "variants"}


def test_a_new_price_applies_to_orders_placed_after_it_and_is_kept_in_the_history(client, app):
    api = admin_api(client)
    created = make_catalogue(api)
    r = api.post(
        "/api/v1/admin/locations",
        json={"code": "DL-T1", "name": "测试馆", "kind": "hall", "pickup": True},
    )
    assert r.status_code == 201, r.json
    put("XP-PEP-250G", "DL-T1", 10)
    create_user("buyer@bo.example.cn")
    buyer = ApiClient(client).as_user("buyer@bo.example.cn")
    order = {
        "lines": [{"sku": "XP-PEP-250G", "quantity": 1}],
        "delivery": {"type": "pickup", "location": "DL-T1"},
    }
    first = buyer.post("/api/v1/orders", json=order)
    assert first.status_code == 201 and first.json["total_fen"] == 4500

    r = patch(api, "/api/v1/admin/variants/XP-PEP-250G", {"price_fen": 4800})
    assert r.status_code == 200 and r.json["price_fen"] == 4800
    second = buyer.post("/api/v1/orders", json=order)
    assert second.json["total_fen"] == 4800
    assert buyer.get(f"/api/v1/orders/{first.json['id']}").json["total_fen"] == 4500

    history = api.get(f"/api/v1/admin/products/{created['id']}/prices").json["items"]
    assert [(h["sku"], h["old_price_fen"], h["new_price_fen"], h["changed_by"]) for h in history] == [
        ("XP-PEP-250G", 4500, 4800, "admin@bo.example.cn")
    ]
    assert patch(api, "/api/v1/admin/variants/XP-PEP-250G", {"price_fen": 0}).status_code == 422
    assert patch(api, "/api/v1/admin/variants/NOPE", {"price_fen": 10}).status_code == 404


def test_deactivating_takes_products_off_sale_without_breaking_orders(client):
    api = admin_api(client)
    created = make_catalogue(api)
    api.post(
        "/api/v1/admin/locations", json={"code": "DL-T1", "name": "测试馆", "kind": "hall", "pickup": True}
    )
    put("XP-PEP-250G", "DL-T1", 10)
    create_user("buyer@bo.example.cn")
    buyer = ApiClient(client).as_user("buyer@bo.example.cn")
    order = buyer.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku": "XP-PEP-250G", "quantity": 1}],
            "delivery": {"type": "pickup", "location": "DL-T1"},
        },
    ).json

    assert patch(api, "/api/v1/admin/variants/XP-PEP-250G", {"active": False}).status_code == 200
    detail = client.get(f"/api/v1/products/{created['id']}").json
    assert [v["sku"] for v in detail["variants"]] == ["XP-PEP-500G"]
    r = patch(api, "/api/v1/admin/producers/xiping-coop", {"active": False})
    assert r.status_code == 200 and r.json["active"] is False
    assert client.get("/api/v1/products").json["items"] == []
    assert client.get("/api/v1/producers").json["items"] == []
    paid = api.post(f"/api/v1/orders/{order['id']}/payments/manual", json={"method": "cash"})
    assert paid.status_code == 200 and paid.json["status"] == "paid"
    # A product of a deactivated producer cannot go back on sale before its producer does.
    assert patch(api, f"/api/v1/admin/products/{created['id']}", {"active": True}).status_code == 422
    patch(api, "/api/v1/admin/producers/xiping-coop", {"active": True})
    assert patch(api, f"/api/v1/admin/products/{created['id']}", {"active": True}).status_code == 200
    assert len(client.get("/api/v1/products").json["items"]) == 1


def test_fair_booth_has_dates_and_locations_list_the_contract_fields(client):
    api = admin_api(client)
    today = clock.today()
    body = {
        "code": "FAIR-T",
        "name": "消费帮扶展销会展位",
        "kind": "fair",
        "district": "东丽区",
        "address": "东丽区体育中心",
        "pickup": True,
        "opens_on": today.isoformat(),
        "closes_on": (today + timedelta(days=2)).isoformat(),
    }
    r = api.post("/api/v1/admin/locations", json=body)
    assert r.status_code == 201, r.json
    assert r.json["opens_on"] == today.isoformat() and r.json["operators"] == []
    assert api.post("/api/v1/admin/locations", json=body).status_code == 409
    no_dates = {**body, "code": "FAIR-U", "opens_on": None, "closes_on": None}
    r = api.post("/api/v1/admin/locations", json=no_dates)
    assert r.status_code == 422 and {e["field"] for e in r.json["errors"]} == {"opens_on", "closes_on"}
    backwards = {**body, "code": "FAIR-V", "closes_on": (today - timedelta(days=1)).isoformat()}
    assert api.post("/api/v1/admin/locations", json=backwards).json["errors"][0]["field"] == "closes_on"
    assert api.post("/api/v1/admin/locations", json={**body, "code": "bad code"}).status_code == 422

    items = client.get("/api/v1/locations").json["items"]
    booth = next(i for i in items if i["code"] == "FAIR-T")
    assert {"code", "name", "kind", "district", "address", "pickup"} <= set(booth)
    assert booth["kind"] == "fair" and booth["pickup"] is True and booth["closes_on"] == body["closes_on"]


def test_operators_are_assigned_per_location_and_act_there_at_once(client):
    api = admin_api(client)
    api.post(
        "/api/v1/admin/locations", json={"code": "DL-T1", "name": "测试馆", "kind": "hall", "pickup": True}
    )
    api.post(
        "/api/v1/admin/locations", json={"code": "DL-T2", "name": "另一馆", "kind": "hall", "pickup": True}
    )
    op = create_user("op@bo.example.cn", role="operator", locations=["DL-T2"])
    operator = ApiClient(client).as_user("op@bo.example.cn")
    assert operator.get("/api/v1/locations/DL-T1/stock").status_code == 403

    r = api.post("/api/v1/admin/locations/DL-T1/operators", json={"email": "OP@bo.example.cn"})
    assert r.status_code == 201 and [o["email"] for o in r.json["items"]] == ["op@bo.example.cn"]
    assert operator.get("/api/v1/locations/DL-T1/stock").status_code == 200
    assert operator.get("/api/v1/locations/DL-T2/stock").status_code == 200  # the other grant stays

    create_user("buyer@bo.example.cn")
    r = api.post("/api/v1/admin/locations/DL-T1/operators", json={"email": "buyer@bo.example.cn"})
    assert r.status_code == 422 and r.json["errors"] == [{"field": "email", "message": "not an operator"}]
    assert (
        api.client.delete(
            f"/api/v1/admin/locations/DL-T1/operators/{op.id}", headers=api._headers(None)
        ).status_code
        == 204
    )
    assert operator.get("/api/v1/locations/DL-T1/stock").status_code == 403


def test_a_new_product_or_price_is_in_the_cached_catalogue_at_once(app, pg_url, redis_url, tmp_path):
    """Production keeps public catalogue answers for CATALOGUE_CACHE_SECONDS (2 s); an admin's change
    empties this process's copy at its commit, so the next answer here already shows it (other web
    processes within those seconds)."""
    from shop.catalog import cache
    from tests.conftest import make_app

    cached_app = make_app(pg_url, redis_url, tmp_path, CATALOGUE_CACHE_SECONDS=30)
    client = cached_app.test_client()
    cache.clear()
    try:
        assert client.get("/api/v1/products").json["items"] == []  # kept for 30 s
        api = admin_api(client)
        created = make_catalogue(api)
        assert [p["id"] for p in client.get("/api/v1/products").json["items"]] == [created["id"]]
        detail = f"/api/v1/products/{created['id']}"
        assert client.get(detail).json["variants"][0]["price_fen"] == 4500
        patch(api, "/api/v1/admin/variants/XP-PEP-250G", {"price_fen": 4700})
        assert client.get(detail).json["variants"][0]["price_fen"] == 4700
    finally:
        cache.clear()
