"""Nothing sells at a fair booth outside its first and last day: counter sales and online pickup orders
are refused with a clear 4xx, and both work on the booth's days."""

from __future__ import annotations

from datetime import timedelta

from shop.core import clock
from tests.backoffice.helpers import admin_api, make_catalogue, patch
from tests.conftest import ApiClient, create_user
from tests.inventory.factories import put


def test_counter_sales_and_pickup_orders_only_on_the_booths_days(client):
    api = admin_api(client)
    make_catalogue(api)
    today = clock.today()
    r = api.post(
        "/api/v1/admin/locations",
        json={
            "code": "FAIR-T",
            "name": "展销会展位",
            "kind": "fair",
            "pickup": True,
            "opens_on": (today + timedelta(days=1)).isoformat(),
            "closes_on": (today + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 201
    put("XP-PEP-250G", "FAIR-T", 10)
    create_user("op@bo.example.cn", role="operator", locations=["FAIR-T"])
    operator = ApiClient(client).as_user("op@bo.example.cn")
    create_user("buyer@bo.example.cn")
    buyer = ApiClient(client).as_user("buyer@bo.example.cn")
    sale = {"client_sale_id": "s-1", "lines": [{"sku": "XP-PEP-250G", "quantity": 1}], "paid_with": "cash"}
    order = {
        "lines": [{"sku": "XP-PEP-250G", "quantity": 1}],
        "delivery": {"type": "pickup", "location": "FAIR-T"},
    }

    refused = operator.post("/api/v1/locations/FAIR-T/sales", json=sale)
    assert refused.status_code == 409 and refused.json["type"].endswith("location-closed")
    assert (today + timedelta(days=1)).isoformat() in refused.json["detail"]
    refused = buyer.post("/api/v1/orders", json=order)
    assert refused.status_code == 422
    assert refused.json["errors"] == [{"field": "delivery.location", "message": "not open on that day"}]
    stock = operator.get("/api/v1/locations/FAIR-T/stock").json["items"]
    assert stock[0]["on_hand"] == 10 and stock[0]["reserved"] == 0  # nothing moved

    patch(api, "/api/v1/admin/locations/FAIR-T", {"opens_on": today.isoformat()})
    assert operator.post("/api/v1/locations/FAIR-T/sales", json=sale).status_code == 201
    assert buyer.post("/api/v1/orders", json=order).status_code == 201

    # (closes before it opens now: refused, the booth keeps its days)
    bad = patch(api, "/api/v1/admin/locations/FAIR-T", {"closes_on": (today - timedelta(days=1)).isoformat()})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "closes_on"


def test_a_sale_made_on_the_last_day_and_posted_after_it_still_counts(client):
    api = admin_api(client)
    make_catalogue(api)
    today = clock.today()
    api.post(
        "/api/v1/admin/locations",
        json={
            "code": "FAIR-T",
            "name": "展销会展位",
            "kind": "fair",
            "pickup": False,
            "opens_on": (today - timedelta(days=3)).isoformat(),
            "closes_on": (today - timedelta(days=1)).isoformat(),
        },
    )
    put("XP-PEP-250G", "FAIR-T", 10)
    create_user("op@bo.example.cn", role="operator", locations=["FAIR-T"])
    operator = ApiClient(client).as_user("op@bo.example.cn")
    lines = [{"sku": "XP-PEP-250G", "quantity": 1}]
    yesterday = (clock.now() - timedelta(days=1)).isoformat()
    offline = {"client_sale_id": "s-1", "lines": lines, "paid_with": "cash", "made_at": yesterday}
    assert operator.post("/api/v1/locations/FAIR-T/sales", json=offline).status_code == 201
    today_sale = {"client_sale_id": "s-2", "lines": lines, "paid_with": "cash"}
    assert operator.post("/api/v1/locations/FAIR-T/sales", json=today_sale).status_code == 409
