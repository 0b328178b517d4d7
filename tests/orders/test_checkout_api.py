"""Order creation through the API: prices from the catalogue, one reservation location, bad input."""

import pytest
from sqlalchemy import func, select

from shop.core import clock
from shop.core.db import db
from shop.inventory.models import StockMovement
from shop.inventory.services import reconcile
from shop.orders.models import Order
from shop.orders.services import is_valid_number
from tests.orders.helpers import ADDRESS, PICKUP, SHIP, auth, buyer, order_body, reserved


def _orders() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Order))


def _movements() -> int:
    return db.session.scalar(select(func.count()).select_from(StockMovement))


def test_pickup_order_reserves_at_the_hall_with_catalogue_prices(seeded, client):
    r = client.post("/api/v1/orders", json=order_body(quantity=3), headers=auth(buyer()))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["status"] == "pending_payment" and body["currency"] == "CNY"
    assert body["total_fen"] == body["subtotal_fen"] == 3 * 2800 and body["shipping_fen"] == 0
    assert is_valid_number(body["number"])
    assert body["fulfilment_location"] == "DL-HM" and body["delivery"]["location"]["code"] == "DL-HM"
    line = body["lines"][0]
    assert line["unit_price_fen"] == 2800 and line["line_total_fen"] == 8400
    assert line["producer"]["name"] == "甘谷线椒专业合作社" and line["producer"]["certificate_number"]
    assert body["payment"]["gateway"] == "manual" and body["reserved_until"]
    assert reserved("CHL-LINE-500G", "DL-HM") == 3
    assert reconcile() == []


def test_delivery_order_reserves_at_a_shipping_location_and_pays_courier_fee(seeded, client):
    r = client.post("/api/v1/orders", json=order_body(quantity=1, delivery=SHIP), headers=auth(buyer()))
    assert r.status_code == 201, r.json
    assert r.json["fulfilment_location"] == "GG-WH"
    assert r.json["shipping_fen"] == 1000 and r.json["total_fen"] == 2800 + 1000
    assert r.json["delivery"]["address"]["district"] == "河西区"
    assert reserved("CHL-LINE-500G", "GG-WH") == 1
    big = client.post(
        "/api/v1/orders", json=order_body(quantity=4, delivery=SHIP), headers=auth(buyer("b2@x.cn"))
    )
    assert big.json["shipping_fen"] == 0  # free from 99 yuan


def test_price_snapshot_does_not_follow_catalogue_changes(seeded, client):
    from shop.catalog.models import Variant
    from shop.core.db import atomic

    b = buyer()
    r = client.post("/api/v1/orders", json=order_body(), headers=auth(b))
    with atomic():
        db.session.scalar(select(Variant).where(Variant.sku == "CHL-LINE-500G")).price_fen = 9900
    again = client.get(f"/api/v1/orders/{r.json['id']}", headers=auth(b))
    assert again.json["lines"][0]["unit_price_fen"] == 2800 and again.json["total_fen"] == 5600


def test_work_unit_order_keeps_invoice_details(seeded, client):
    unit = buyer("canteen@dongli.gov.cn", buyer_kind="work_unit")
    r = client.post("/api/v1/orders", json=order_body(quantity=5), headers=auth(unit))
    assert r.status_code == 201
    assert r.json["buyer"] == {
        "kind": "work_unit",
        "invoice_title": "东丽区机关食堂",
        "tax_id": "12120110MB1234567X",
    }


BAD = [
    ({"lines": [], "delivery": PICKUP}, "lines"),
    ({"lines": [{"sku": "NOPE", "quantity": 1}], "delivery": PICKUP}, "lines.0.sku"),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 0}], "delivery": PICKUP}, "lines.0.quantity"),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 10**12}], "delivery": PICKUP}, "lines.0.quantity"),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": "2"}], "delivery": PICKUP}, "lines.0.quantity"),
    (
        {"lines": [{"sku": "CHL-LINE-500G", "quantity": 1, "price_fen": 1}], "delivery": PICKUP},
        "lines.0.price_fen",
    ),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}], "delivery": PICKUP, "total_fen": 1}, "total_fen"),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}]}, "delivery"),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}], "delivery": {"type": "ship"}}, "delivery.address"),
    (
        {
            "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
            "delivery": {"type": "ship", "address": {**ADDRESS, "phone": "12345"}},
        },
        "delivery.address.phone",
    ),
    (
        {
            "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
            "delivery": {"type": "ship", "address": {**ADDRESS, "district": "朝阳区"}},
        },
        "delivery.address.district",
    ),
    (
        {
            "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
            "delivery": {"type": "ship", "address": {k: v for k, v in ADDRESS.items() if k != "recipient"}},
        },
        "delivery.address.recipient",
    ),
    (
        {"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}], "delivery": {"type": "pickup"}},
        "delivery.location",
    ),
    (
        {
            "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
            "delivery": {"type": "pickup", "location": "GG-WH"},
        },
        "delivery.location",
    ),
    (
        {
            "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
            "delivery": {"type": "pickup", "location": "XX"},
        },
        "delivery.location",
    ),
    ({"lines": [{"sku": "CHL-LINE-500G", "quantity": 1}], "delivery": {"type": "drone"}}, "delivery.type"),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_input_is_a_clear_422_that_changes_nothing(seeded, client, body, field):
    before = _movements()
    r = client.post("/api/v1/orders", json=body, headers=auth(buyer()))
    assert r.status_code == 422, r.json
    assert r.content_type == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(r.json)
    assert field in {e["field"] for e in r.json.get("errors", [])}, r.json
    assert _orders() == 0 and _movements() == before


def test_not_json_and_no_token(seeded, client):
    r = client.post("/api/v1/orders", data="{", content_type="application/json", headers=auth(buyer()))
    assert r.status_code in (400, 422) and r.content_type == "application/problem+json"
    assert client.post("/api/v1/orders", json=order_body()).status_code == 401
    assert _orders() == 0


def test_short_stock_is_409_naming_the_sku_and_reserves_nothing(seeded, client):
    body = {
        "lines": [{"sku": "APL-HN-5KG", "quantity": 1}, {"sku": "CHL-LINE-500G", "quantity": 21}],
        "delivery": PICKUP,
    }
    before = _movements()
    r = client.post("/api/v1/orders", json=body, headers=auth(buyer()))
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    assert r.json["sku"] == "CHL-LINE-500G" and "CHL-LINE-500G" in r.json["detail"]
    assert _orders() == 0 and _movements() == before
    assert reserved("APL-HN-5KG", "DL-HM") == 0  # the first line's reservation was rolled back too


def test_expired_lots_cannot_be_reserved(seeded, client):
    from datetime import timedelta

    from shop.catalog.models import Location, Variant
    from shop.core.db import atomic
    from shop.inventory.services import add_stock, take_stock

    with atomic():
        v = db.session.scalar(select(Variant).where(Variant.sku == "VEG-HL-10KG"))
        hall = db.session.scalar(select(Location).where(Location.code == "DL-WX"))
        take_stock(v, hall, 20, kind="adjustment", reason="test: empty the hall")
        add_stock(v, hall, 5, kind="receipt", lot_code="OLD", best_before=clock.today() - timedelta(days=1))
    r = client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku": "VEG-HL-10KG", "quantity": 1}],
            "delivery": {"type": "pickup", "location": "DL-WX"},
        },
        headers=auth(buyer()),
    )
    assert r.status_code == 409 and r.json["sku"] == "VEG-HL-10KG"
    assert reserved("VEG-HL-10KG", "DL-WX") == 0


def test_idempotent_order_creation(seeded, client):
    b = buyer()
    h = {**auth(b), "Idempotency-Key": "checkout-1"}
    r1 = client.post("/api/v1/orders", json=order_body(), headers=h)
    r2 = client.post("/api/v1/orders", json=order_body(), headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.json["id"] == r2.json["id"] and r2.headers["Idempotent-Replayed"] == "true"
    assert _orders() == 1 and reserved("CHL-LINE-500G", "DL-HM") == 2
    other = client.post("/api/v1/orders", json=order_body(quantity=5), headers=h)
    assert other.status_code == 422 and other.content_type == "application/problem+json"
    assert _orders() == 1 and reserved("CHL-LINE-500G", "DL-HM") == 2


def test_orders_are_private_to_buyer_and_location_staff(seeded, client):
    from tests.conftest import create_user

    a, b = buyer("a@x.cn"), buyer("b@x.cn")
    oid = client.post("/api/v1/orders", json=order_body(), headers=auth(a)).json["id"]
    assert client.get(f"/api/v1/orders/{oid}", headers=auth(a)).status_code == 200
    assert client.get(f"/api/v1/orders/{oid}", headers=auth(b)).status_code == 404
    here = create_user("op-hm@x.cn", role="operator", locations=["DL-HM"])
    there = create_user("op-wx@x.cn", role="operator", locations=["DL-WX"])
    assert client.get(f"/api/v1/orders/{oid}", headers=auth(here)).status_code == 200
    assert client.get(f"/api/v1/orders/{oid}", headers=auth(there)).status_code == 404
    mine = client.get("/api/v1/orders", headers=auth(a)).json
    assert mine["total"] == 1 and mine["items"][0]["id"] == oid
    assert client.get("/api/v1/orders", headers=auth(b)).json["total"] == 0
    staff_view = client.get("/api/v1/orders?all=true", headers=auth(here)).json
    assert staff_view["total"] == 1 and staff_view["items"][0]["needs_attention"] is False


def test_cancel_pending_order_releases_its_stock(seeded, client):
    b = buyer()
    oid = client.post("/api/v1/orders", json=order_body(quantity=4), headers=auth(b)).json["id"]
    assert reserved("CHL-LINE-500G", "DL-HM") == 4
    assert (
        client.post(f"/api/v1/orders/{oid}/cancel", json={}, headers=auth(buyer("x@x.cn"))).status_code == 404
    )
    r = client.post(f"/api/v1/orders/{oid}/cancel", json={}, headers=auth(b))
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert reserved("CHL-LINE-500G", "DL-HM") == 0
    again = client.post(f"/api/v1/orders/{oid}/cancel", json={}, headers=auth(b))
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert reserved("CHL-LINE-500G", "DL-HM") == 0 and reconcile() == []
