from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core import clock
from shop.inventory.models import CounterSale, CounterSaleLine, StockMovement
from shop.inventory.services import reconcile
from tests.inventory.factories import OP_HM, level, lots, put

SALES = "/api/v1/locations/DL-HM/sales"


def _sale(client_sale_id="s-1", lines=None, paid_with="wechat", **extra):
    return {
        "client_sale_id": client_sale_id,
        "lines": [{"sku": "APL-5KG", "quantity": 2}] if lines is None else lines,
        "paid_with": paid_with,
        **extra,
    }


def _count(model):
    from shop.core.db import db

    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_sale_takes_first_expiry_first_and_snapshots_price(any_world, any_api):
    today = clock.today()
    put("APL-5KG", "DL-HM", 5, lot="LATE", best_before=today + timedelta(days=40))
    put("APL-5KG", "DL-HM", 3, lot="SOON", best_before=today + timedelta(days=3))
    put("SHOE-1", "DL-HM", 4)
    op = any_api.as_user(OP_HM)

    r = op.post(
        SALES, json=_sale(lines=[{"sku": "APL-5KG", "quantity": 4}, {"sku": "SHOE-1", "quantity": 1}])
    )

    assert r.status_code == 201, r.json
    body = r.json
    assert body["total_fen"] == 4 * 6800 + 9800 and body["currency"] == "CNY"
    apple = next(line for line in body["lines"] if line["sku"] == "APL-5KG")
    assert apple["unit_price_fen"] == 6800 and apple["amount_fen"] == 27200
    assert [(lot["lot"], lot["quantity"]) for lot in apple["lots"]] == [("SOON", 3), ("LATE", 1)]
    assert body["operator"] == OP_HM and body["paid_with"] == "wechat" and body["replayed"] is False
    assert lots("APL-5KG", "DL-HM") == {"LATE": 4, "SOON": 0}
    assert level("SHOE-1", "DL-HM") == (3, 0)
    assert reconcile() == []


def test_replay_returns_the_first_sale_and_changes_nothing(any_world, any_api):
    put("APL-5KG", "DL-HM", 10, lot="A", best_before=clock.today() + timedelta(days=9))
    op = any_api.as_user(OP_HM)
    first = op.post(SALES, json=_sale())
    again = op.post(SALES, json=_sale())

    assert first.status_code == 201 and again.status_code == 200
    assert again.json["id"] == first.json["id"] and again.json["replayed"] is True
    assert again.json["lines"] == first.json["lines"]
    assert level("APL-5KG", "DL-HM") == (8, 0)
    assert _count(CounterSale) == 1 and _count(CounterSaleLine) == 1


def test_same_client_sale_id_with_other_lines_is_refused(world, api):
    put("APL-5KG", "DL-HM", 10, lot="A", best_before=clock.today() + timedelta(days=9))
    op = api.as_user(OP_HM)
    assert op.post(SALES, json=_sale()).status_code == 201
    r = op.post(SALES, json=_sale(lines=[{"sku": "APL-5KG", "quantity": 3}]))
    assert r.status_code == 409 and r.json["type"].endswith("client-sale-id-reused")
    r = op.post(SALES, json=_sale(paid_with="cash"))
    assert r.status_code == 409
    assert level("APL-5KG", "DL-HM") == (8, 0)


def test_same_client_sale_id_at_another_hall_is_another_sale(world, api):
    from tests.inventory.factories import ADMIN

    put("SHOE-1", "DL-HM", 5)
    put("SHOE-1", "DL-WX", 5)
    admin = api.as_user(ADMIN)
    body = _sale("tab-1", [{"sku": "SHOE-1", "quantity": 1}])
    assert admin.post(SALES, json=body).status_code == 201
    assert admin.post("/api/v1/locations/DL-WX/sales", json=body).status_code == 201
    assert level("SHOE-1", "DL-HM") == (4, 0) and level("SHOE-1", "DL-WX") == (4, 0)


def test_sale_is_counted_once_in_the_aid_ledger(world, api):
    put("APL-5KG", "DL-HM", 10, lot="A", best_before=clock.today() + timedelta(days=9))
    op = api.as_user(OP_HM)
    sale_id = op.post(SALES, json=_sale()).json["id"]
    op.post(SALES, json=_sale())
    from shop.core.db import db

    entries = list(db.session.scalars(select(AidEntry).where(AidEntry.source == f"counter-sale:{sale_id}")))
    assert len(entries) == 1
    assert entries[0].channel == "hall" and entries[0].amount_fen == 13600 and entries[0].qualifying


def test_fair_booth_sales_count_as_fair_channel(world, api):
    from tests.inventory.factories import ADMIN

    put("SHOE-1", "FAIR", 3)
    r = api.as_user(ADMIN).post(
        "/api/v1/locations/FAIR/sales", json=_sale(lines=[{"sku": "SHOE-1", "quantity": 1}])
    )
    assert r.status_code == 201
    from shop.core.db import db

    assert db.session.scalar(select(AidEntry.channel)) == "fair"


def test_offline_sale_keeps_the_tablets_time(world, api):
    put("SHOE-1", "DL-HM", 3)
    made = datetime.now(UTC) - timedelta(days=2)
    r = api.as_user(OP_HM).post(
        SALES, json=_sale(lines=[{"sku": "SHOE-1", "quantity": 1}], made_at=made.isoformat())
    )
    assert r.status_code == 201
    assert datetime.fromisoformat(r.json["made_at"]) == made
    assert datetime.fromisoformat(r.json["received_at"]) > made


def test_batch_handles_each_offline_sale_on_its_own(any_world, any_api):
    put("SHOE-1", "DL-HM", 3)
    op = any_api.as_user(OP_HM)
    assert op.post(SALES, json=_sale("q-1", [{"sku": "SHOE-1", "quantity": 1}], "cash")).status_code == 201
    queue = [
        _sale(
            "q-1", [{"sku": "SHOE-1", "quantity": 1}], "cash"
        ),  # already posted before the tablet lost signal
        _sale("q-2", [{"sku": "SHOE-1", "quantity": 1}], "card"),
        _sale("q-3", [{"sku": "SHOE-1", "quantity": 5}], "cash"),  # more than is left
        _sale("q-4", [{"sku": "SHOE-1", "quantity": 0}], "cash"),  # invalid
        _sale("q-5", [{"sku": "NOPE", "quantity": 1}], "cash"),  # unknown SKU
        _sale("q-6", [{"sku": "SHOE-1", "quantity": 1}], "alipay"),
        "not an object",
    ]
    r = op.post(f"{SALES}/batch", json={"sales": queue})
    assert r.status_code == 200, r.json
    assert [x["status"] for x in r.json["results"]] == [200, 201, 409, 422, 422, 201, 422]
    assert r.json["created"] == 2 and r.json["replayed"] == 1 and r.json["failed"] == 4
    assert r.json["results"][2]["problem"]["type"].endswith("insufficient-stock")
    assert r.json["results"][3]["problem"]["errors"][0]["field"] == "sales.3.lines.0.quantity"
    assert level("SHOE-1", "DL-HM") == (0, 0)
    # The whole queue again: everything recorded is found again, nothing sold twice.
    r = op.post(f"{SALES}/batch", json={"sales": queue})
    assert [x["status"] for x in r.json["results"]] == [200, 200, 409, 422, 422, 200, 422]
    assert _count(CounterSale) == 3 and reconcile() == []


def test_sale_list_and_detail(world, api):
    put("SHOE-1", "DL-HM", 3)
    op = api.as_user(OP_HM)
    sale_id = op.post(SALES, json=_sale(lines=[{"sku": "SHOE-1", "quantity": 1}])).json["id"]
    r = op.get(f"{SALES}?date={clock.today().isoformat()}")
    assert r.status_code == 200 and r.json["total"] == 1 and r.json["items"][0]["id"] == sale_id
    assert op.get(f"{SALES}/{sale_id}").json["lines"][0]["lots"] == [
        {"lot": "-", "quantity": 1, "best_before": None}
    ]
    assert op.get(f"{SALES}/999").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (_sale(lines=[{"sku": "APL-5KG", "quantity": 0}]), 422, "validation-failed"),
        (_sale(lines=[{"sku": "APL-5KG", "quantity": -2}]), 422, "validation-failed"),
        (_sale(lines=[{"sku": "APL-5KG", "quantity": 1.5}]), 422, "validation-failed"),
        (_sale(lines=[{"sku": "APL-5KG", "quantity": "2"}]), 422, "validation-failed"),
        (_sale(lines=[]), 422, "validation-failed"),
        (_sale(lines=[{"sku": "NOPE", "quantity": 1}]), 422, "unknown-sku"),
        (_sale(paid_with="iou"), 422, "validation-failed"),
        (_sale(client_sale_id=""), 422, "validation-failed"),
        (_sale(lines=[{"sku": "APL-5KG", "quantity": 6}]), 409, "insufficient-stock"),
        (
            _sale(lines=[{"sku": "APL-5KG", "quantity": 2}, {"sku": "SHOE-1", "quantity": 9}]),
            409,
            "insufficient-stock",
        ),
        (_sale(made_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()), 422, "validation-failed"),
        (_sale(made_at=(datetime.now(UTC) - timedelta(days=30)).isoformat()), 422, "validation-failed"),
        (_sale(made_at="2026-01-01T10:00:00"), 422, "validation-failed"),
        ({"lines": [{"sku": "APL-5KG", "quantity": 1}], "paid_with": "cash"}, 422, "validation-failed"),
        ({**_sale(), "discount": 5}, 422, "validation-failed"),
    ],
)
def test_bad_sales_are_refused_and_change_nothing(world, api, body, status, slug):
    put("APL-5KG", "DL-HM", 5, lot="A", best_before=clock.today() + timedelta(days=9))
    put("SHOE-1", "DL-HM", 2)
    r = api.as_user(OP_HM).post(SALES, json=body)
    assert r.status_code == status, r.json
    assert r.content_type == "application/problem+json"
    assert r.json["type"].endswith(slug) and r.json["detail"]
    assert level("APL-5KG", "DL-HM") == (5, 0) and level("SHOE-1", "DL-HM") == (2, 0)
    assert _count(CounterSale) == 0 and _count(StockMovement) == 2


def test_expired_lot_is_not_sold(world, api):
    put("APL-5KG", "DL-HM", 3, lot="OLD", best_before=clock.today() - timedelta(days=1))
    put("APL-5KG", "DL-HM", 1, lot="NEW", best_before=clock.today() + timedelta(days=10))
    op = api.as_user(OP_HM)
    r = op.post(SALES, json=_sale(lines=[{"sku": "APL-5KG", "quantity": 2}]))
    assert r.status_code == 409 and r.json["type"].endswith("lot-expired")
    assert lots("APL-5KG", "DL-HM") == {"OLD": 3, "NEW": 1}
    r = op.post(SALES, json=_sale(lines=[{"sku": "APL-5KG", "quantity": 1}]))
    assert r.status_code == 201 and r.json["lines"][0]["lots"][0]["lot"] == "NEW"


def test_malformed_json_is_a_problem_not_a_500(world, api):
    op = api.as_user(OP_HM)
    r = op.post(SALES, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.content_type == "application/problem+json"
    r = op.post(SALES, json=["a", "list"])
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert _count(CounterSale) == 0


def test_counter_sales_only_at_halls_and_fairs(world, api):
    from tests.inventory.factories import ADMIN

    put("SHOE-1", "GG-WH", 5)
    r = api.as_user(ADMIN).post(
        "/api/v1/locations/GG-WH/sales", json=_sale(lines=[{"sku": "SHOE-1", "quantity": 1}])
    )
    assert r.status_code == 422 and r.json["type"].endswith("not-a-sales-location")
    assert level("SHOE-1", "GG-WH") == (5, 0)


def test_idempotency_key_replays_the_first_answer(world, api):
    put("SHOE-1", "DL-HM", 5)
    op = api.as_user(OP_HM)
    headers = {"Idempotency-Key": "k-sale-1"}
    body = _sale(lines=[{"sku": "SHOE-1", "quantity": 1}])
    r1 = op.post(SALES, json=body, headers=headers)
    r2 = op.post(SALES, json=body, headers=headers)
    assert r1.status_code == r2.status_code == 201 and r2.headers["Idempotent-Replayed"] == "true"
    assert level("SHOE-1", "DL-HM") == (4, 0)


def test_a_sale_never_leaves_online_reservations_with_only_expired_units(world, api):
    from shop.catalog.models import Location, Variant
    from shop.core.db import atomic, db
    from shop.inventory.services import reserve

    put("APL-5KG", "DL-HM", 2, lot="OLD", best_before=clock.today() - timedelta(days=1))
    put("APL-5KG", "DL-HM", 5, lot="GOOD", best_before=clock.today() + timedelta(days=9))
    with atomic():
        variant = db.session.scalar(select(Variant).where(Variant.sku == "APL-5KG"))
        hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        reserve([(variant, 3)], hall, reference="order:GG-1")  # an online pickup order waits here
    op = api.as_user(OP_HM)
    # on hand 7 - reserved 3 = 4 "available", but only 2 good units are not promised to the order
    r = op.post(SALES, json=_sale("r-1", [{"sku": "APL-5KG", "quantity": 3}]))
    assert r.status_code == 409 and "reserved for online orders" in r.json["detail"]
    assert lots("APL-5KG", "DL-HM") == {"OLD": 2, "GOOD": 5}
    assert op.post(SALES, json=_sale("r-2", [{"sku": "APL-5KG", "quantity": 2}])).status_code == 201
    assert level("APL-5KG", "DL-HM") == (5, 3)
