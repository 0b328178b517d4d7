from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.core import clock
from shop.core.db import db
from shop.inventory.models import StockCount, StockMovement
from shop.inventory.services import reconcile
from tests.inventory.factories import OP_HM, level, lots, put

ADJ = "/api/v1/locations/DL-HM/adjustments"
COUNTS = "/api/v1/locations/DL-HM/counts"
SOON = clock.today() + timedelta(days=2)
LATER = clock.today() + timedelta(days=30)


def _movements():
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(StockMovement))


def test_spoilage_writes_off_expired_lots_first_and_records_who_and_why(any_world, any_api):
    put("APL-5KG", "DL-HM", 2, lot="OLD", best_before=clock.today() - timedelta(days=1))
    put("APL-5KG", "DL-HM", 5, lot="NEW", best_before=LATER)
    op = any_api.as_user(OP_HM)
    r = op.post(
        ADJ, json={"sku": "APL-5KG", "quantity_delta": -3, "reason": "spoilage", "note": "soft, bruised"}
    )
    assert r.status_code == 201, r.json
    assert [
        (m["kind"], m["lot"], m["quantity"], m["actor"], m["reason"], m["note"]) for m in r.json["movements"]
    ] == [
        ("spoilage", "OLD", -2, OP_HM, "spoilage", "soft, bruised"),
        ("spoilage", "NEW", -1, OP_HM, "spoilage", "soft, bruised"),
    ]
    assert r.json["item"]["on_hand"] == 4
    assert reconcile() == []


def test_damage_of_a_named_lot_and_found_stock(world, api):
    put("APL-5KG", "DL-HM", 4, lot="L1", best_before=SOON)
    put("APL-5KG", "DL-HM", 4, lot="L2", best_before=LATER)
    op = api.as_user(OP_HM)
    assert (
        op.post(
            ADJ, json={"sku": "APL-5KG", "quantity_delta": -1, "reason": "damage", "lot": "L2"}
        ).status_code
        == 201
    )
    r = op.post(ADJ, json={"sku": "APL-5KG", "quantity_delta": 2, "reason": "found", "lot": "L1"})
    assert r.status_code == 201 and r.json["movements"][0]["kind"] == "adjustment"
    r = op.post(
        ADJ,
        json={
            "sku": "APL-5KG",
            "quantity_delta": 3,
            "reason": "found",
            "lot": "L3",
            "best_before": LATER.isoformat(),
        },
    )
    assert r.status_code == 201
    r = op.post(ADJ, json={"sku": "SHOE-1", "quantity_delta": 1, "reason": "customer_return"})
    assert (
        r.status_code == 201
        and r.json["movements"][0]["kind"] == "return"
        and r.json["movements"][0]["lot"] == "-"
    )
    r = op.post(ADJ, json={"sku": "SHOE-1", "quantity_delta": -1, "reason": "damaged"})  # an accepted alias
    assert r.status_code == 201 and r.json["movements"][0]["reason"] == "damage"
    assert lots("APL-5KG", "DL-HM") == {"L1": 6, "L2": 3, "L3": 3}
    assert reconcile() == []


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"sku": "APL-5KG", "quantity_delta": 0, "reason": "spoilage"}, 422, "bad-quantity"),
        ({"sku": "APL-5KG", "quantity_delta": 2, "reason": "spoilage"}, 422, "bad-reason"),
        ({"sku": "APL-5KG", "quantity_delta": -2, "reason": "found"}, 422, "bad-reason"),
        ({"sku": "APL-5KG", "quantity_delta": -2, "reason": "because"}, 422, "validation-failed"),
        ({"sku": "APL-5KG", "quantity_delta": -2, "reason": "other"}, 422, "bad-reason"),
        ({"sku": "APL-5KG", "quantity_delta": -6, "reason": "lost"}, 409, "insufficient-stock"),
        ({"sku": "APL-5KG", "quantity_delta": -1, "reason": "lost", "lot": "NOPE"}, 422, "unknown-lot"),
        ({"sku": "APL-5KG", "quantity_delta": -5, "reason": "lost", "lot": "L1"}, 409, "insufficient-stock"),
        ({"sku": "APL-5KG", "quantity_delta": 1, "reason": "found"}, 422, "validation-failed"),
        (
            {"sku": "APL-5KG", "quantity_delta": 1, "reason": "found", "lot": "NEWLOT"},
            422,
            "validation-failed",
        ),
        (
            {
                "sku": "APL-5KG",
                "quantity_delta": 1,
                "reason": "found",
                "lot": "X",
                "best_before": "2020-01-01",
            },
            409,
            "lot-expired",
        ),
        ({"sku": "NOPE", "quantity_delta": -1, "reason": "lost"}, 422, "unknown-sku"),
        ({"sku": "APL-5KG", "quantity_delta": "-1", "reason": "lost"}, 422, "validation-failed"),
    ],
)
def test_bad_adjustments_change_nothing(world, api, body, status, slug):
    put("APL-5KG", "DL-HM", 4, lot="L1", best_before=SOON)
    put("APL-5KG", "DL-HM", 1, lot="L2", best_before=LATER)
    before = _movements()
    r = api.as_user(OP_HM).post(ADJ, json=body)
    assert r.status_code == status and r.json["type"].endswith(slug), r.json
    assert r.content_type == "application/problem+json"
    assert level("APL-5KG", "DL-HM") == (5, 0) and _movements() == before


def test_adjusting_below_what_is_reserved_is_refused(world, api):
    from shop.catalog.models import Location, Variant
    from shop.core.db import atomic
    from shop.inventory.services import reserve

    put("SHOE-1", "DL-HM", 3)
    with atomic():
        variant = db.session.scalar(select(Variant).where(Variant.sku == "SHOE-1"))
        hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        reserve([(variant, 2)], hall, reference="order:1")
    r = api.as_user(OP_HM).post(ADJ, json={"sku": "SHOE-1", "quantity_delta": -2, "reason": "lost"})
    assert r.status_code == 409 and level("SHOE-1", "DL-HM") == (3, 2)


def test_count_corrects_lots_and_totals(any_world, any_api):
    put("APL-5KG", "DL-HM", 6, lot="L1", best_before=SOON)
    put("APL-5KG", "DL-HM", 6, lot="L2", best_before=LATER)
    put("SHOE-1", "DL-HM", 4)
    op = any_api.as_user(OP_HM)
    r = op.post(
        COUNTS,
        json={
            "lines": [
                {"sku": "APL-5KG", "lot": "L1", "counted": 4},
                {"sku": "APL-5KG", "lot": "L2", "counted": 7},
                {"sku": "SHOE-1", "counted": 4},
            ],
            "note": "month-end count",
        },
    )
    assert r.status_code == 201, r.json
    assert [(ln["sku"], ln["lot"], ln["expected"], ln["counted"], ln["delta"]) for ln in r.json["lines"]] == [
        ("APL-5KG", "L1", 6, 4, -2),
        ("APL-5KG", "L2", 6, 7, 1),
        ("SHOE-1", None, 4, 4, 0),
    ]
    assert lots("APL-5KG", "DL-HM") == {"L1": 4, "L2": 7}
    moves = db.session.execute(
        select(StockMovement.quantity, StockMovement.reference).where(
            StockMovement.kind == "count_correction"
        )
    ).all()
    assert sorted(q for q, _ in moves) == [-2, 1] and {ref for _, ref in moves} == {f"count:{r.json['id']}"}
    # A total count: missing units leave first-expiry-first, extra units join the newest lot.
    op.post(COUNTS, json={"lines": [{"sku": "APL-5KG", "counted": 9}]})
    assert lots("APL-5KG", "DL-HM") == {"L1": 2, "L2": 7}
    op.post(COUNTS, json={"lines": [{"sku": "APL-5KG", "counted": 12}]})
    assert lots("APL-5KG", "DL-HM") == {"L1": 2, "L2": 10}
    assert reconcile() == []


@pytest.mark.parametrize(
    "lines",
    [
        [{"sku": "SHOE-1", "counted": -1}],
        [{"sku": "SHOE-1", "counted": 1}, {"sku": "SHOE-1", "counted": 2}],
        [{"sku": "APL-5KG", "counted": 1}, {"sku": "APL-5KG", "lot": "L1", "counted": 2}],
        [{"sku": "APL-5KG", "lot": "NOPE", "counted": 2}],
        [{"sku": "NOPE", "counted": 2}],
        [],
    ],
)
def test_bad_counts_change_nothing(world, api, lines):
    put("APL-5KG", "DL-HM", 6, lot="L1", best_before=SOON)
    put("SHOE-1", "DL-HM", 4)
    before = _movements()
    r = api.as_user(OP_HM).post(COUNTS, json={"lines": lines})
    assert r.status_code == 422 and r.content_type == "application/problem+json", r.json
    assert _movements() == before and db.session.scalar(select(func.count()).select_from(StockCount)) == 0


def test_count_below_reserved_is_refused(world, api):
    from shop.catalog.models import Location, Variant
    from shop.core.db import atomic
    from shop.inventory.services import reserve

    put("SHOE-1", "DL-HM", 5)
    with atomic():
        variant = db.session.scalar(select(Variant).where(Variant.sku == "SHOE-1"))
        hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        reserve([(variant, 3)], hall, reference="order:9")
    r = api.as_user(OP_HM).post(COUNTS, json={"lines": [{"sku": "SHOE-1", "counted": 2}]})
    assert r.status_code == 409 and r.json["type"].endswith("count-below-reserved")
    assert level("SHOE-1", "DL-HM") == (5, 3)


def test_low_stock_thresholds_and_expiring_lots(world, api):
    put("APL-5KG", "DL-HM", 6, lot="L1", best_before=SOON)
    put("APL-5KG", "DL-HM", 1, lot="OLD", best_before=clock.today() - timedelta(days=1))
    put("SHOE-1", "DL-HM", 2)
    op = api.as_user(OP_HM)
    low = op.get("/api/v1/locations/DL-HM/low-stock").json["items"]
    assert [(i["sku"], i["available"], i["low_stock_threshold"]) for i in low] == [("SHOE-1", 2, 2)]
    r = op.client.put(
        "/api/v1/locations/DL-HM/thresholds/APL-5KG",
        json={"threshold": 8},
        headers={"Authorization": f"Bearer {op.token}"},
    )
    assert r.status_code == 200 and r.json["low_stock_threshold"] == 8 and r.json["low"] is True
    from shop.audit.models import AuditEvent

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stock.threshold_set"))
    assert event.actor_email == OP_HM and event.details["threshold"] == 8
    low = op.get("/api/v1/locations/DL-HM/low-stock").json["items"]
    assert {i["sku"] for i in low} == {"SHOE-1", "APL-5KG"}
    r = op.client.put(
        "/api/v1/locations/DL-HM/thresholds/APL-5KG",
        json={"threshold": -1},
        headers={"Authorization": f"Bearer {op.token}"},
    )
    assert r.status_code == 422
    exp = op.get("/api/v1/locations/DL-HM/expiring?days=3").json
    assert [(i["lot"], i["expired"], i["days_left"]) for i in exp["items"]] == [
        ("OLD", True, -1),
        ("L1", False, 2),
    ]
    assert op.get("/api/v1/locations/DL-HM/expiring?days=0").json["items"][0]["lot"] == "OLD"
    assert op.get("/api/v1/locations/DL-HM/expiring?days=-1").status_code == 422
    stock = op.get("/api/v1/locations/DL-HM/stock?sku=APL-5KG").json["items"][0]
    assert stock["expired"] == 1 and [lot["lot"] for lot in stock["lots"]] == ["OLD", "L1"]


def test_movement_history_filters_and_pages(world, api):
    put("SHOE-1", "DL-HM", 10)
    op = api.as_user(OP_HM)
    for i in range(3):
        op.post(
            "/api/v1/locations/DL-HM/sales",
            json={
                "client_sale_id": f"h{i}",
                "lines": [{"sku": "SHOE-1", "quantity": 1}],
                "paid_with": "cash",
            },
        )
    op.post(ADJ, json={"sku": "SHOE-1", "quantity_delta": -1, "reason": "sample"})
    url = "/api/v1/locations/DL-HM/movements"
    page = op.get(f"{url}?per_page=2").json
    assert page["total"] == 5 and len(page["items"]) == 2 and page["items"][0]["kind"] == "adjustment"
    assert op.get(f"{url}?per_page=2&page=3").json["items"][0]["kind"] == "receipt"
    assert op.get(f"{url}?kind=counter_sale").json["total"] == 3
    assert op.get(f"{url}?actor={OP_HM}").json["total"] == 4
    assert op.get(f"{url}?reference=test").json["total"] == 1
    assert op.get(f"{url}?sku=SHOE-1&lot=-").json["total"] == 5
    assert op.get(f"{url}?since=2999-01-01T00:00:00%2B08:00").json["total"] == 0
    assert op.get(f"{url}?kind=teleport").status_code == 422
    assert op.get(f"{url}?per_page=1000").status_code == 422
    assert op.get(f"{url}?sku=NOPE").status_code == 422
