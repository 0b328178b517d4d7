"""The counter's JSON for the tablet (snapshot, queue replay), its service worker and the day sign-off."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

from sqlalchemy import func, select

from shop.core import clock
from shop.core.db import db
from shop.counter.models import DaySignOff
from shop.inventory.models import CounterSale
from shop.inventory.services import reconcile
from tests.conftest import ApiClient
from tests.counter.helpers import sale, signed_in, snapshot, sync
from tests.inventory.factories import ADMIN, BUYER, OP_HM, OP_WX, PASSWORD, level, put

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _sales() -> int:
    return db.session.scalar(select(func.count()).select_from(CounterSale))


def test_snapshot_lists_price_and_sellable_units_for_the_operators_own_hall_only(world, client):
    put("SHOE-1", "DL-HM", 5)
    put("APL-5KG", "DL-HM", 3, lot="OLD", best_before=clock.today() - timedelta(days=1))
    put("APL-5KG", "DL-HM", 2, lot="NEW", best_before=clock.today() + timedelta(days=9))
    assert client.get("/counter/DL-HM/snapshot.json").status_code == 302  # to the sign-in page
    signed_in(client, OP_HM)
    r = snapshot(client)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    items = {i["sku"]: i for i in r.json["items"]}
    assert items["SHOE-1"]["available"] == 5 and items["SHOE-1"]["price_fen"] == 9800
    assert items["APL-5KG"]["available"] == 2 and items["APL-5KG"]["on_hand"] == 5  # expired lot not sellable
    assert r.json["as_of"].endswith("+00:00") and r.json["csrf_token"]
    assert "pickup_card" in r.json["pay_methods"]
    assert snapshot(client, "DL-WX").status_code == 403


def test_snapshot_api_needs_an_operator_token_for_that_hall(world, client):
    put("SHOE-1", "DL-HM", 2)
    api = ApiClient(client)
    assert api.get("/api/v1/locations/DL-HM/counter/snapshot").status_code == 401
    op = api.as_user(OP_HM, PASSWORD)
    r = op.get("/api/v1/locations/DL-HM/counter/snapshot")
    assert r.status_code == 200 and r.json["items"][0]["sku"] == "SHOE-1" and "csrf_token" not in r.json
    assert op.get("/api/v1/locations/DL-WX/counter/snapshot").status_code == 403
    assert api.as_user(BUYER, PASSWORD).get("/api/v1/locations/DL-HM/counter/snapshot").status_code == 403


def test_sync_records_each_sale_once_and_refuses_only_the_one_short_of_stock(world, client):
    put("SHOE-1", "DL-HM", 3)
    signed_in(client, OP_HM)
    batch = [sale("t-1"), sale("t-2", quantity=2), sale("t-3")]
    r = sync(client, batch)
    assert r.status_code == 200
    assert [x["status"] for x in r.json["results"]] == [201, 201, 409]
    assert r.json["results"][2]["problem"]["detail"]
    again = sync(client, batch[:2])
    assert [x["status"] for x in again.json["results"]] == [200, 200]
    assert _sales() == 2 and level("SHOE-1", "DL-HM") == (0, 0)
    assert reconcile() == []


def test_sync_needs_the_csrf_token_and_a_batch(world, client):
    put("SHOE-1", "DL-HM", 3)
    signed_in(client, OP_HM)
    assert sync(client, [sale("t-1")], csrf="wrong").status_code == 400
    token = snapshot(client).json["csrf_token"]
    r = client.post("/counter/DL-HM/sync", json={"sales": []}, headers={"X-CSRFToken": token})
    assert r.status_code == 422
    r = client.post("/counter/DL-HM/sync", json=[1], headers={"X-CSRFToken": token})
    assert r.status_code == 422
    assert sync(client, [sale("t-1")], code="DL-WX", csrf=token).status_code == 403
    assert _sales() == 0 and level("SHOE-1", "DL-HM") == (3, 0)


def test_pickup_card_sale_without_code_is_refused_for_that_sale_only(world, client):
    put("SHOE-1", "DL-HM", 3)
    signed_in(client, OP_HM)
    r = sync(
        client, [sale("c-1", paid_with="pickup_card"), sale("c-2", paid_with="pickup_card", card_code="0000")]
    )
    assert [x["status"] for x in r.json["results"]] == [422, 422]
    assert _sales() == 0


def test_last_unit_sold_by_two_tablets_at_once_gives_one_sale_and_one_refusal(world, app):
    """Two tablets replay a sale of the hall's last unit at the same moment (real concurrent requests)."""
    put("SHOE-1", "DL-HM", 1)
    clients = [signed_in(app.test_client(), OP_HM) for _ in range(2)]
    tokens = [snapshot(c).json["csrf_token"] for c in clients]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def replay(i: int) -> None:
        with app.app_context():
            barrier.wait()
            r = sync(clients[i], [sale(f"race-{i}")], csrf=tokens[i])
            statuses.append(r.json["results"][0]["status"])
            db.session.remove()

    threads = [threading.Thread(target=replay, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [201, 409]
    assert _sales() == 1 and level("SHOE-1", "DL-HM") == (0, 0)


def test_service_worker_and_manifest_cover_the_console(world, client):
    sw = client.get("/counter/sw.js")
    assert (
        sw.status_code == 200 and sw.mimetype == "text/javascript" and "caches" in sw.get_data(as_text=True)
    )
    manifest = client.get("/counter/manifest.webmanifest")
    assert manifest.json["scope"] == "/counter/" and manifest.json["icons"]
    signed_in(client, OP_HM)
    html = client.get("/counter/DL-HM/").get_data(as_text=True)
    assert 'data-sw-url="/counter/sw.js"' in html and 'data-pay="pickup_card"' in html
    assert client.get("/counter/").headers["Location"].endswith("/counter/DL-HM/")
    assert "/counter/DL-HM/" in client.get("/console/DL-HM/").get_data(
        as_text=True
    )  # the old console links here
    assert client.get("/counter/DL-WX/").status_code == 403


def _sign(client, data: dict):
    page = client.get("/counter/DL-HM/day").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    return client.post("/counter/DL-HM/day", data={"csrf_token": token, **data})


def test_day_report_by_method_and_product_signed_once_and_late_sales_shown(world, client):
    put("SHOE-1", "DL-HM", 5)
    put("APL-5KG", "DL-HM", 5)
    signed_in(client, OP_HM)
    sync(client, [sale("d-1", quantity=2), sale("d-2", sku="APL-5KG", paid_with="wechat")])
    html = client.get("/counter/DL-HM/day").get_data(as_text=True)
    assert 'id="day-total">¥264.00' in html and "count-sheet" in html
    assert re.search(r'data-method="cash"><td>[^<]+</td><td class="num">1</td><td class="num">¥196.00', html)

    assert _sign(client, {"note": "ok"}).status_code == 422  # the box not ticked
    assert db.session.scalar(select(func.count()).select_from(DaySignOff)) == 0
    assert _sign(client, {"checked": "1", "note": "till matches"}).status_code == 302
    signed = db.session.scalar(select(DaySignOff))
    assert (signed.sales_count, signed.total_fen, signed.note) == (2, 26400, "till matches")
    sync(client, [sale("d-3")])  # a late replay after the sign-off
    html = client.get("/counter/DL-HM/day").get_data(as_text=True)
    assert 'id="signoff"' in html and 'id="late-sales"' in html
    signed_in(client, ADMIN)
    _sign(client, {"checked": "1"})  # already signed: the first signature stays
    assert db.session.scalar(select(func.count()).select_from(DaySignOff)) == 1
    assert signed_in(client, OP_WX).get("/counter/DL-HM/day").status_code == 403


def test_replay_and_sign_off_work_the_same_on_the_embedded_sqlite_default(any_world, any_app):
    client = signed_in(any_app.test_client(), OP_HM)
    put("SHOE-1", "DL-HM", 2)
    batch = [sale("s-1"), sale("s-2"), sale("s-3")]
    assert [x["status"] for x in sync(client, batch).json["results"]] == [201, 201, 409]
    assert [x["status"] for x in sync(client, batch[:2]).json["results"]] == [200, 200]
    assert level("SHOE-1", "DL-HM") == (0, 0)
    page = client.get("/counter/DL-HM/day").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    for _ in range(2):
        client.post("/counter/DL-HM/day", data={"csrf_token": token, "checked": "1"})
    assert [(s.sales_count, s.total_fen) for s in db.session.scalars(select(DaySignOff))] == [(2, 19600)]


def test_the_counter_speaks_english_when_asked(world, client):
    signed_in(client, OP_HM)
    html = client.get("/counter/DL-HM/?lang=en").get_data(as_text=True)
    assert "Record sale" in html and "Pickup card" in html and "记录销售" not in html
    html = client.get("/counter/DL-HM/?lang=zh").get_data(as_text=True)
    assert "记录销售" in html and "提货卡" in html
    words = json.loads(re.search(r'id="counter-i18n">(.*?)</script>', html).group(1))
    assert words["offline"] == "离线：销售先保存在本平板上" and words["beijing_time"] == "北京时间"
