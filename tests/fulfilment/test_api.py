"""/api/v1/fulfilment: operators at their own locations only, problem+json for every refusal."""

from sqlalchemy import select

from shop.core.db import db
from shop.fulfilment.models import PickupTicket
from tests.conftest import create_user
from tests.fulfilment.helpers import SHIP, operator, paid_order
from tests.orders.helpers import auth, buyer

BASE = "/api/v1/fulfilment"


def _code(order_id):
    db.session.rollback()
    return db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == order_id))


def test_hall_lists_orders_with_pick_lists_and_hands_over_by_code(inline, client):
    staff = operator()
    b = buyer()
    order_id = paid_order(b, staff, lines=[("CHL-LINE-500G", 2), ("APL-HN-5KG", 1)])
    r = client.get(f"{BASE}/locations/DL-HM/orders?section=awaiting_pickup", headers=auth(staff))
    assert r.status_code == 200, r.json
    assert r.json["total"] == 1 and r.json["counts"]["awaiting_pickup"] == 1
    item = r.json["items"][0]
    assert item["id"] == order_id and item["pickup"]["status"] == "ready" and "code" not in item["pickup"]
    chili = next(line for line in item["lines"] if line["sku"] == "CHL-LINE-500G")
    assert (
        chili["to_hand_over"] == 2
        and sum(p["quantity"] for p in chili["picks"]) == 2
        and chili["picks"][0]["lot"]
    )

    picks = client.get(f"{BASE}/locations/DL-HM/pick-list", headers=auth(staff)).json["items"]
    assert {(p["sku"], p["quantity"], p["orders"]) for p in picks} == {
        ("CHL-LINE-500G", 2, 1),
        ("APL-HN-5KG", 1, 1),
    }

    mine = client.get(f"/api/v1/orders/{order_id}", headers=auth(b)).json
    assert mine["fulfilment"]["code"] == _code(order_id) and mine["status"] == "ready_for_pickup"
    theirs = client.get(f"/api/v1/orders/{order_id}", headers=auth(staff)).json
    assert "code" not in theirs["fulfilment"]  # staff never see the buyer's proof

    wrong = client.post(f"{BASE}/locations/DL-HM/handovers", json={"code": "12345"}, headers=auth(staff))
    assert wrong.status_code == 422 and wrong.content_type == "application/problem+json"
    other = "000000" if _code(order_id) != "000000" else "999999"
    missing = client.post(f"{BASE}/locations/DL-HM/handovers", json={"code": other}, headers=auth(staff))
    assert missing.status_code == 404 and missing.json["errors"][0]["field"] == "code"

    headers = {**auth(staff), "Idempotency-Key": "handover-1"}
    done = client.post(f"{BASE}/locations/DL-HM/handovers", json={"code": _code(order_id)}, headers=headers)
    assert done.status_code == 200 and done.json["status"] == "completed"
    again = client.post(f"{BASE}/locations/DL-HM/handovers", json={"code": _code(order_id)}, headers=headers)
    assert again.status_code == 200 and again.json == done.json  # a tablet retrying gets the first answer
    retry = client.post(f"{BASE}/orders/{order_id}/retry", headers=auth(staff))
    assert retry.status_code == 409


def test_parcels_are_shipped_and_delivered_through_the_api(inline, client):
    staff = operator()
    order_id = paid_order(buyer(), staff, lines=[("PEP-DHP-250G", 1)], delivery=SHIP)
    listing = client.get(f"{BASE}/locations/GG-WH/orders", headers=auth(staff)).json
    assert [i["id"] for i in listing["items"]] == [order_id] and listing["items"][0]["recipient"]["phone"]
    bad = client.post(
        f"{BASE}/orders/{order_id}/ship",
        json={"courier": "sf", "tracking_number": "x y"},
        headers=auth(staff),
    )
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "tracking_number"
    early = client.post(f"{BASE}/orders/{order_id}/delivered", headers=auth(staff))
    assert early.status_code == 409 and early.json["type"].endswith("not-shipped")
    shipped = client.post(
        f"{BASE}/orders/{order_id}/ship",
        json={"courier": "jd", "tracking_number": "JD0001234567"},
        headers=auth(staff),
    )
    assert shipped.status_code == 200 and shipped.json["status"] == "shipped"
    assert shipped.json["shipment"]["tracking_number"] == "JD0001234567"
    delivered = client.post(f"{BASE}/orders/{order_id}/delivered", headers=auth(staff))
    assert delivered.status_code == 200 and delivered.json["status"] == "completed"


def test_only_staff_of_the_location_may_act(inline, client):
    staff = operator()
    order_id = paid_order(buyer(), staff)
    elsewhere = create_user("op-wx@example.cn", role="operator", locations=["DL-WX"])
    customer = create_user("c@example.cn")
    admin = create_user("admin@example.cn", role="admin")
    for who, status in ((elsewhere, 403), (customer, 403), (admin, 200)):
        assert client.get(f"{BASE}/locations/DL-HM/orders", headers=auth(who)).status_code == status
        assert client.get(f"{BASE}/orders/{order_id}", headers=auth(who)).status_code == status
    assert client.get(f"{BASE}/locations/DL-HM/orders").status_code == 401
    assert client.get(f"{BASE}/locations/NOPE/orders", headers=auth(admin)).status_code == 404
    assert client.get(f"{BASE}/orders/999999", headers=auth(admin)).status_code == 404
    r = client.post(
        f"{BASE}/locations/DL-HM/handovers", json={"code": _code(order_id)}, headers=auth(elsewhere)
    )
    assert r.status_code == 403 and r.content_type == "application/problem+json"
    bad_section = client.get(f"{BASE}/locations/DL-HM/orders?section=everything", headers=auth(staff))
    assert bad_section.status_code == 422


def test_wrong_pickup_codes_are_throttled_per_operator_and_hall(inline, client):
    """Guessing codes: after the allowed number of wrong ones, even a right code waits (429); right
    codes never count, and another operator (or the same one at another hall) is not held up."""
    settings = inline.extensions["settings"]
    settings.RATELIMIT_ENABLED, settings.RATE_LIMIT_PICKUP_CODES = True, "3/minute"
    inline.extensions.pop("failure_throttles", None)
    try:
        staff = operator()
        colleague = operator("op-hm2@example.cn")
        first, second = paid_order(buyer(), staff), paid_order(buyer("wu@example.cn"), staff)
        right = _code(first)
        done = client.post(f"{BASE}/locations/DL-HM/handovers", json={"code": right}, headers=auth(staff))
        assert done.status_code == 200  # a right code does not count
        taken = {right, _code(second)}
        wrong = [c for c in ("000000", "111111", "222222", "333333", "444444") if c not in taken][:3]
        for c in wrong:
            r = client.post(f"{BASE}/locations/DL-HM/handovers", json={"code": c}, headers=auth(staff))
            assert r.status_code == 404
        blocked = client.post(
            f"{BASE}/locations/DL-HM/handovers", json={"code": _code(second)}, headers=auth(staff)
        )
        assert blocked.status_code == 429 and blocked.content_type == "application/problem+json"
        assert (
            blocked.json["type"].endswith("too-many-wrong-codes") and int(blocked.headers["Retry-After"]) > 0
        )
        db.session.rollback()
        assert (
            db.session.scalar(select(PickupTicket.status).where(PickupTicket.order_id == second)) == "ready"
        )
        ok = client.post(
            f"{BASE}/locations/DL-HM/handovers", json={"code": _code(second)}, headers=auth(colleague)
        )
        assert ok.status_code == 200 and ok.json["status"] == "completed"
    finally:
        settings.RATELIMIT_ENABLED = False
        inline.extensions.pop("failure_throttles", None)
