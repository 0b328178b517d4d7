from datetime import timedelta

from sqlalchemy import func, select

from shop.core import clock
from shop.core.db import db
from shop.inventory.models import StockMovement, Transfer, TransferDiscrepancy
from shop.inventory.services import TRANSIT_CODE, reconcile
from tests.inventory.factories import ADMIN, OP_HM, OP_WH, OP_WX, level, lots, put

BB = clock.today() + timedelta(days=60)


def _consign(api, lines=None, to="DL-HM"):
    wh = api.as_user(OP_WH)
    r = wh.post(
        "/api/v1/transfers",
        json={
            "from": "GG-WH",
            "to": to,
            "lines": lines or [{"sku": "APL-5KG", "quantity": 20}, {"sku": "SHOE-1", "quantity": 6}],
            "reference": "WB-001",
        },
    )
    assert r.status_code == 201, r.json
    return r.json


def _stocked_warehouse():
    put("APL-5KG", "GG-WH", 30, lot="A-LATE", best_before=BB + timedelta(days=30))
    put("APL-5KG", "GG-WH", 15, lot="A-SOON", best_before=BB)
    put("SHOE-1", "GG-WH", 10)


def test_consignment_goes_in_transit_then_hall_receives_with_shortfall_and_damage(any_world, any_api):
    _stocked_warehouse()
    sent = _consign(any_api)
    assert sent["kind"] == "consignment" and sent["status"] == "in_transit" and sent["number"].startswith("C")
    # First expiry first: the whole SOON lot, then 5 from LATE.
    assert [(ln["sku"], ln["lot"], ln["sent"]) for ln in sent["lines"]] == [
        ("APL-5KG", "A-SOON", 15),
        ("APL-5KG", "A-LATE", 5),
        ("SHOE-1", "-", 6),
    ]
    assert level("APL-5KG", "GG-WH") == (25, 0)
    # In transit: counted by the ledger, reserved so nobody can sell it.
    assert level("APL-5KG", TRANSIT_CODE) == (20, 20)
    assert reconcile() == []

    op = any_api.as_user(OP_HM)
    r = op.post(
        f"/api/v1/transfers/{sent['id']}/receive",
        json={"lines": [{"sku": "APL-5KG", "quantity": 17, "damaged": 2}, {"sku": "SHOE-1", "quantity": 6}]},
    )
    assert r.status_code == 200, r.json
    got = r.json
    assert got["status"] == "received" and got["closed_at"]
    soon, late, shoes = got["lines"]
    assert (soon["received"], soon["damaged"], soon["short"]) == (15, 0, 0)
    assert (late["received"], late["damaged"], late["short"]) == (2, 2, 1)
    assert (shoes["received"], shoes["short"]) == (6, 0)
    assert sorted((d["kind"], d["quantity"]) for d in got["discrepancies"]) == [("damaged", 2), ("short", 1)]
    assert lots("APL-5KG", "DL-HM") == {"A-SOON": 15, "A-LATE": 2}
    assert level("APL-5KG", "DL-HM") == (17, 0) and level("SHOE-1", "DL-HM") == (6, 0)
    assert level("APL-5KG", TRANSIT_CODE) == (0, 0)
    kinds = dict(
        db.session.execute(
            select(StockMovement.kind, func.sum(StockMovement.quantity))
            .where(
                StockMovement.reference == f"transfer:{sent['id']}",
                StockMovement.variant_id == any_world.apple,
            )
            .group_by(StockMovement.kind)
        ).all()
    )
    assert kinds == {
        "transfer_out": -20,
        "in_transit": 20,
        "transit_delivered": -17,
        "transit_damage": -2,
        "transit_shortfall": -1,
        "transfer_in": 17,
    }
    assert reconcile() == []


def test_receiving_more_than_was_sent_is_refused_and_recorded_as_a_discrepancy(world, api):
    _stocked_warehouse()
    sent = _consign(api)
    op = api.as_user(OP_HM)
    r = op.post(
        f"/api/v1/transfers/{sent['id']}/receive",
        json={"lines": [{"sku": "APL-5KG", "quantity": 21}, {"sku": "SHOE-1", "quantity": 6}]},
    )
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    assert r.json["type"].endswith("receipt-exceeds-shipment")
    assert r.json["excess"] == [{"sku": "APL-5KG", "lot": None, "in_transit": 20, "reported": 21}]
    # Nothing was received...
    assert level("APL-5KG", "DL-HM") == (0, 0) and level("SHOE-1", "DL-HM") == (0, 0)
    assert level("APL-5KG", TRANSIT_CODE) == (20, 20)
    got = op.get(f"/api/v1/transfers/{sent['id']}").json
    assert got["status"] == "in_transit"
    # ...but the report is on record for whoever follows it up.
    assert [(d["kind"], d["quantity"], d["accepted"]) for d in got["discrepancies"]] == [("over", 1, False)]
    assert reconcile() == []


def test_a_refused_over_receipt_is_kept_once_and_replayed_under_its_idempotency_key(world, api):
    _stocked_warehouse()
    sent = _consign(api)
    op = api.as_user(OP_HM)
    body = {"consignment": sent["number"], "lines": [{"sku": "SHOE-1", "quantity": 8}]}
    key = {"Idempotency-Key": "over-1"}
    first = op.post("/api/v1/locations/DL-HM/receipts", json=body, headers=key)
    again = op.post("/api/v1/locations/DL-HM/receipts", json=body, headers=key)
    assert first.status_code == again.status_code == 409
    assert first.json["excess"] == [{"sku": "SHOE-1", "lot": None, "in_transit": 6, "reported": 8}]
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert level("SHOE-1", "DL-HM") == (0, 0) and level("SHOE-1", TRANSIT_CODE) == (6, 6)
    got = op.get(f"/api/v1/transfers/{sent['id']}").json
    assert got["status"] == "in_transit"
    assert [(d["kind"], d["quantity"], d["accepted"]) for d in got["discrepancies"]] == [("over", 2, False)]
    assert reconcile() == []


def test_partial_receipts_line_by_line_then_close(world, api):
    _stocked_warehouse()
    sent = _consign(api)
    op = api.as_user(OP_HM)
    url = f"/api/v1/transfers/{sent['id']}/receive"
    r = op.post(url, json={"lines": [{"sku": "SHOE-1", "quantity": 6}], "final": False})
    assert r.json["status"] == "partially_received"
    r = op.post(url, json={"lines": [{"sku": "APL-5KG", "quantity": 10, "lot": "A-SOON"}], "final": False})
    assert r.json["status"] == "partially_received"
    assert level("APL-5KG", TRANSIT_CODE) == (10, 10)
    r = op.post(url, json={"lines": [{"sku": "APL-5KG", "quantity": 9}]})
    assert r.json["status"] == "received"
    lines = {(ln["lot"]): ln for ln in r.json["lines"] if ln["sku"] == "APL-5KG"}
    # The 9 fill the earliest-expiring line first; the one unit never reported is short.
    assert lines["A-SOON"]["received"] == 15 and lines["A-LATE"]["received"] == 4
    assert lines["A-LATE"]["short"] == 1
    r = op.post(url, json={"lines": [{"sku": "APL-5KG", "quantity": 1}]})
    assert r.status_code == 409 and r.json["type"].endswith("transfer-closed")
    assert reconcile() == []


def test_receiving_via_the_receipts_endpoint_with_a_consignment(world, api):
    _stocked_warehouse()
    sent = _consign(api)
    r = api.as_user(OP_HM).post(
        "/api/v1/locations/DL-HM/receipts",
        json={
            "consignment": sent["number"],
            "lines": [{"sku": "APL-5KG", "quantity": 20}, {"sku": "SHOE-1", "quantity": 5}],
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["transfer"]["status"] == "received"
    assert level("SHOE-1", "DL-HM") == (5, 0)
    assert r.json["transfer"]["discrepancies"][0]["kind"] == "short"
    r = api.as_user(OP_WX).post(
        "/api/v1/locations/DL-WX/receipts",
        json={"consignment": sent["id"], "lines": [{"sku": "SHOE-1", "quantity": 1}]},
    )
    assert r.status_code == 404


def test_transfer_between_halls_and_cancel(any_world, any_api):
    put("SHOE-1", "DL-HM", 8)
    op = any_api.as_user(OP_HM)
    r = op.post(
        "/api/v1/transfers",
        json={"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 3}]},
    )
    assert r.status_code == 201 and r.json["kind"] == "transfer" and r.json["number"].startswith("T")
    assert level("SHOE-1", "DL-HM") == (5, 0)
    # The other hall sees it coming.
    incoming = any_api.as_user(OP_WX).get("/api/v1/locations/DL-WX/transfers?direction=in&status=open").json
    assert [t["id"] for t in incoming["items"]] == [r.json["id"]]
    # The sender calls it back before it is received: everything returns to the same lot.
    c = op.post(f"/api/v1/transfers/{r.json['id']}/cancel")
    assert c.status_code == 200 and c.json["status"] == "cancelled" and c.json["lines"][0]["returned"] == 3
    assert level("SHOE-1", "DL-HM") == (8, 0) and lots("SHOE-1", "DL-HM") == {"-": 8}
    assert (
        any_api.as_user(OP_WX)
        .post(f"/api/v1/transfers/{r.json['id']}/receive", json={"lines": []})
        .status_code
        == 409
    )
    assert reconcile() == []


def test_a_partly_received_transfer_cannot_be_cancelled(world, api):
    put("SHOE-1", "DL-HM", 8)
    op = api.as_user(OP_HM)
    tid = op.post(
        "/api/v1/transfers",
        json={"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 3}]},
    ).json["id"]
    api.as_user(OP_WX).post(
        f"/api/v1/transfers/{tid}/receive", json={"lines": [{"sku": "SHOE-1", "quantity": 1}], "final": False}
    )
    r = op.post(f"/api/v1/transfers/{tid}/cancel")
    assert r.status_code == 409 and level("SHOE-1", "DL-HM") == (5, 0)


def test_nothing_arrived(world, api):
    put("SHOE-1", "DL-HM", 2)
    tid = (
        api.as_user(OP_HM)
        .post(
            "/api/v1/transfers",
            json={"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 2}]},
        )
        .json["id"]
    )
    r = api.as_user(OP_WX).post(
        f"/api/v1/transfers/{tid}/receive", json={"lines": [], "note": "truck never came"}
    )
    assert r.status_code == 200 and r.json["lines"][0]["short"] == 2 and r.json["status"] == "received"
    assert level("SHOE-1", "DL-WX") == (0, 0) and reconcile() == []


def test_in_transit_location_is_not_a_public_location(world, api):
    put("SHOE-1", "DL-HM", 2)
    api.as_user(OP_HM).post(
        "/api/v1/transfers",
        json={"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 2}]},
    )
    codes = [loc["code"] for loc in api.get("/api/v1/locations").json["items"]]
    assert TRANSIT_CODE not in codes
    assert api.as_user(ADMIN).get(f"/api/v1/locations/{TRANSIT_CODE}/stock").status_code == 404
    # Catalogue availability counts nothing in transit (it is all reserved there).
    assert api.get("/api/v1/products").json["items"][0]["available"] == 0


def test_sending_an_expired_lot_is_refused(world, api):
    put("APL-5KG", "GG-WH", 5, lot="OLD", best_before=clock.today() - timedelta(days=2))
    r = api.as_user(OP_WH).post(
        "/api/v1/transfers",
        json={"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "APL-5KG", "quantity": 2, "lot": "OLD"}]},
    )
    assert r.status_code == 409 and r.json["type"].endswith("lot-expired")
    r = api.as_user(OP_WH).post(
        "/api/v1/transfers",
        json={"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "APL-5KG", "quantity": 2}]},
    )
    assert r.status_code == 409 and r.json["type"].endswith("lot-expired")
    assert level("APL-5KG", "GG-WH") == (5, 0)
    assert db.session.scalar(select(func.count()).select_from(Transfer)) == 0


def test_bad_transfers_change_nothing(world, api):
    put("SHOE-1", "GG-WH", 5)
    wh = api.as_user(OP_WH)
    cases = [
        (
            {"from": "GG-WH", "to": "NOWHERE", "lines": [{"sku": "SHOE-1", "quantity": 1}]},
            422,
            "unknown-location",
        ),
        (
            {"from": "GG-WH", "to": "GG-WH", "lines": [{"sku": "SHOE-1", "quantity": 1}]},
            422,
            "validation-failed",
        ),
        (
            {"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "SHOE-1", "quantity": 0}]},
            422,
            "validation-failed",
        ),
        (
            {"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "SHOE-1", "quantity": -1}]},
            422,
            "validation-failed",
        ),
        ({"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "NOPE", "quantity": 1}]}, 422, "unknown-sku"),
        (
            {"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "SHOE-1", "quantity": 6}]},
            409,
            "insufficient-stock",
        ),
        (
            {"from": "GG-WH", "to": "DL-HM", "lines": [{"sku": "SHOE-1", "quantity": 1, "lot": "X"}]},
            422,
            "unknown-lot",
        ),
        ({"from": "GG-WH", "to": "DL-HM", "lines": []}, 422, "validation-failed"),
        (
            {"from": "DL-HM", "to": "GG-WH", "lines": [{"sku": "SHOE-1", "quantity": 1}]},
            403,
            "location-not-granted",
        ),
    ]
    for body, status, slug in cases:
        r = wh.post("/api/v1/transfers", json=body)
        assert (r.status_code, r.json["type"].rsplit("/", 1)[1]) == (status, slug), (body, r.json)
    assert level("SHOE-1", "GG-WH") == (5, 0)
    assert db.session.scalar(select(func.count()).select_from(Transfer)) == 0


def test_bad_receipts_change_nothing(world, api):
    put("SHOE-1", "DL-HM", 5)
    tid = (
        api.as_user(OP_HM)
        .post(
            "/api/v1/transfers",
            json={"from": "DL-HM", "to": "DL-WX", "lines": [{"sku": "SHOE-1", "quantity": 5}]},
        )
        .json["id"]
    )
    wx = api.as_user(OP_WX)
    url = f"/api/v1/transfers/{tid}/receive"
    for body, status in [
        ({"lines": [{"sku": "SHOE-1", "quantity": -1}]}, 422),
        ({"lines": [{"sku": "SHOE-1", "quantity": 0}]}, 422),
        ({"lines": [{"sku": "APL-5KG", "quantity": 1}]}, 422),
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, 422),
        ({"lines": [{"sku": "SHOE-1", "quantity": 4, "damaged": 2}]}, 409),
    ]:
        assert wx.post(url, json=body).status_code == status, body
    assert api.as_user(OP_HM).post(url, json={"lines": [{"sku": "SHOE-1", "quantity": 5}]}).status_code == 403
    assert wx.post("/api/v1/transfers/999/receive", json={"lines": []}).status_code == 404
    assert level("SHOE-1", "DL-WX") == (0, 0) and level("SHOE-1", TRANSIT_CODE) == (5, 5)
    assert (
        db.session.scalar(
            select(func.count()).select_from(TransferDiscrepancy).where(TransferDiscrepancy.kind != "over")
        )
        == 0
    )


def test_direct_receipts(any_world, any_api):
    wh = any_api.as_user(OP_WH)
    url = "/api/v1/locations/GG-WH/receipts"
    harvest = clock.today() - timedelta(days=3)
    r = wh.post(
        url,
        json={
            "lines": [
                {"sku": "APL-5KG", "quantity": 40, "lot": "HN-0901", "harvested_on": harvest.isoformat()}
            ],
            "reference": "DN-7",
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["reference"] == "DN-7" and r.json["movements"][0]["actor"] == OP_WH
    stock = wh.get("/api/v1/locations/GG-WH/stock").json["items"][0]
    # best-before derived from the harvest date and the SKU's 90-day shelf life
    assert stock["lots"][0]["best_before"] == (harvest + timedelta(days=90)).isoformat()
    for body, status, slug in [
        ({"lines": [{"sku": "APL-5KG", "quantity": 1}]}, 422, "validation-failed"),  # perishable without lot
        ({"lines": [{"sku": "APL-5KG", "quantity": 1, "lot": "X"}]}, 422, "validation-failed"),  # no dates
        (
            {"lines": [{"sku": "APL-5KG", "quantity": 1, "lot": "X", "best_before": "2020-01-01"}]},
            409,
            "lot-expired",
        ),
        (
            {"lines": [{"sku": "APL-5KG", "quantity": 1, "lot": "HN-0901", "best_before": "2099-01-01"}]},
            409,
            "lot-dates-differ",
        ),
        ({"lines": [{"sku": "SHOE-1", "quantity": 0}]}, 422, "validation-failed"),
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, 422, "unknown-sku"),
        (
            {"lines": [{"sku": "SHOE-1", "quantity": 1}, {"sku": "APL-5KG", "quantity": 1}]},
            422,
            "validation-failed",
        ),
    ]:
        r = wh.post(url, json=body)
        assert (r.status_code, r.json["type"].rsplit("/", 1)[1]) == (status, slug), (body, r.json)
    assert level("SHOE-1", "GG-WH") == (0, 0) and level("APL-5KG", "GG-WH") == (40, 0)
    assert reconcile() == []
