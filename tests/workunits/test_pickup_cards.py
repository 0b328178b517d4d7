"""Pickup cards (提货卡): issued to a verified unit on account, codes shown once and stored hashed,
redeemed online and at the counter part by part, never below zero, counted when they buy goods."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select, text

from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile
from shop.core import clock
from shop.core.db import db
from shop.payments.models import Refund
from shop.payments.refunds import send_refund
from shop.workunits.models import AccountEntry, CardRedemption, PickupCard
from tests.conftest import create_user
from tests.workunits.helpers import SKU, order, register_unit

PRICE = 9800  # hemp shoes, 98 yuan


def _verified_unit(api, admin, email="union@example.cn") -> int:
    uid = register_unit(api, email, title="东丽区总工会", unit_type="trade_union")
    assert admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"}).status_code == 200
    return uid


def _issue(admin, uid: int, *, count=2, value_fen=PRICE * 2, days=90, key=None) -> dict:
    r = admin.post(
        "/api/v1/admin/pickup-cards",
        json={
            "buyer_unit": uid,
            "count": count,
            "value_fen": value_fen,
            "expires_on": (clock.today() + timedelta(days=days)).isoformat(),
        },
        headers={"Idempotency-Key": key} if key else None,
    )
    assert r.status_code == 201, r.json
    return r.json


def _balance(code_hint: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(PickupCard.balance_fen).where(PickupCard.hint == code_hint))


def test_a_batch_is_charged_to_the_unit_and_its_codes_are_shown_once_and_stored_hashed(api, admin):
    uid = _verified_unit(api, admin)
    body = _issue(admin, uid, count=3, value_fen=50_000, key="batch-1")
    codes = [c["code"] for c in body["cards"]]
    assert len(codes) == 3 and len(set(codes)) == 3
    assert all(len(c.replace("-", "")) >= 12 for c in codes)
    db.session.rollback()
    stored = " ".join(str(v) for row in db.session.execute(text("SELECT * FROM pickup_card")) for v in row)
    assert not any(c.replace("-", "") in stored for c in codes)
    charged = db.session.scalar(
        select(AccountEntry.amount_fen).where(AccountEntry.card_batch_id == body["batch"])
    )
    assert charged == 150_000
    # A retry of the same request does not issue (or show) anything again.
    again = admin.post(
        "/api/v1/admin/pickup-cards",
        json={
            "buyer_unit": uid,
            "count": 3,
            "value_fen": 50_000,
            "expires_on": (clock.today() + timedelta(days=90)).isoformat(),
        },
        headers={"Idempotency-Key": "batch-1"},
    )
    assert again.status_code == 409 and again.json["batch"] == body["batch"]
    assert db.session.scalar(select(func.count()).select_from(PickupCard)) == 3
    # Aid counts nothing at issue.
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 0


def test_only_a_verified_unit_gets_cards(api, admin):
    uid = register_unit(api, "pending@example.cn")
    r = admin.post(
        "/api/v1/admin/pickup-cards",
        json={
            "buyer_unit": uid,
            "count": 1,
            "value_fen": 100,
            "expires_on": (clock.today() + timedelta(days=9)).isoformat(),
        },
    )
    assert r.status_code == 409
    consumer = create_user("c@example.cn")
    r = admin.post(
        "/api/v1/admin/pickup-cards",
        json={
            "buyer_unit": consumer.id,
            "count": 1,
            "value_fen": 100,
            "expires_on": (clock.today() + timedelta(days=9)).isoformat(),
        },
    )
    assert r.status_code == 404


def test_a_card_pays_orders_part_by_part_as_the_units_direct_purchase(api, admin):
    uid = _verified_unit(api, admin)
    code = _issue(admin, uid, count=1, value_fen=PRICE * 2)["cards"][0]["code"]
    create_user("staff1@example.cn")
    holder = api.as_user("staff1@example.cn")
    first = order(holder)
    r = holder.post(f"/api/v1/orders/{first}/payments/card", json={"code": code.lower().replace("-", " ")})
    assert r.status_code == 200 and r.json["status"] == "paid", r.json
    assert _balance(code[-4:]) == PRICE
    entries = list(db.session.scalars(select(AidEntry).where(AidEntry.source == f"order:{first}")))
    assert {(e.direct_purchase, e.buyer_id, e.amount_fen) for e in entries} == {(True, uid, PRICE)}
    second = order(holder)
    assert holder.post(f"/api/v1/orders/{second}/payments/card", json={"code": code}).status_code == 200
    assert _balance(code[-4:]) == 0
    third = order(holder)
    short = holder.post(f"/api/v1/orders/{third}/payments/card", json={"code": code})
    assert short.status_code == 409 and short.json["type"].endswith("card-balance-short")
    # A refund gives the card its value back (through the card gateway, once).
    refund = admin.post(f"/api/v1/orders/{first}/refunds", json={"reason": "size"})
    assert refund.status_code == 201, refund.json
    refund_id = refund.json["refund"]["id"]
    assert send_refund(refund_id) == "succeeded"
    assert send_refund(refund_id) == "nothing to send"
    assert _balance(code[-4:]) == PRICE
    assert db.session.get(Refund, refund_id).status == "succeeded"
    assert reconcile(trigger="test").status == "ok"


def test_an_expired_card_cannot_pay_and_wrong_codes_are_refused(api, admin):
    uid = _verified_unit(api, admin)
    code = _issue(admin, uid, count=1, value_fen=PRICE)["cards"][0]["code"]
    db.session.execute(
        text("UPDATE pickup_card SET expires_on = :d"), {"d": clock.today() - timedelta(days=1)}
    )
    db.session.commit()
    create_user("staff1@example.cn")
    holder = api.as_user("staff1@example.cn")
    placed = order(holder)
    r = holder.post(f"/api/v1/orders/{placed}/payments/card", json={"code": code})
    assert r.status_code == 409 and r.json["type"].endswith("card-expired")
    wrong = holder.post(f"/api/v1/orders/{placed}/payments/card", json={"code": "ABCD-EFGH-JKLM-NPQR"})
    assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "code"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CardRedemption)) == 0


def test_guessed_card_codes_are_throttled(api, admin, shop):
    uid = _verified_unit(api, admin)
    code = _issue(admin, uid, count=1, value_fen=PRICE)["cards"][0]["code"]
    create_user("guesser@example.cn")
    guesser = api.as_user("guesser@example.cn")
    placed = order(guesser)
    settings = shop.extensions["settings"]
    settings.RATELIMIT_ENABLED, settings.RATE_LIMIT_CARD_CODES = True, "3/minute"
    shop.extensions.pop("failure_throttles", None)
    try:
        for guess in ("2222-2222-2222-2222", "3333-3333-3333-3333", "4444-4444-4444-4444"):
            assert (
                guesser.post(f"/api/v1/orders/{placed}/payments/card", json={"code": guess}).status_code
                == 422
            )
        blocked = guesser.post(f"/api/v1/orders/{placed}/payments/card", json={"code": code})
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert blocked.json["type"].endswith("too-many-wrong-card-codes")
    finally:
        settings.RATELIMIT_ENABLED = False
        shop.extensions.pop("failure_throttles", None)
    assert _balance(code[-4:]) == PRICE


def test_a_counter_sale_paid_with_a_card_takes_its_total_once_and_counts_for_the_unit(api, admin, shop):
    uid = _verified_unit(api, admin)
    code = _issue(admin, uid, count=1, value_fen=PRICE * 3)["cards"][0]["code"]
    create_user("op@example.cn", role="operator", locations=["DL-HM"])
    op = api.as_user("op@example.cn")
    sale = {
        "client_sale_id": "tab-1",
        "lines": [{"sku": SKU, "quantity": 2}],
        "paid_with": "pickup_card",
        "card_code": code,
    }
    r = op.post("/api/v1/locations/DL-HM/sales", json=sale)
    assert r.status_code == 201 and r.json["paid_with"] == "pickup_card", r.json
    assert op.post("/api/v1/locations/DL-HM/sales", json=sale).status_code == 200  # the tablet's replay
    assert _balance(code[-4:]) == PRICE
    entries = list(
        db.session.scalars(select(AidEntry).where(AidEntry.source == f"counter-sale:{r.json['id']}"))
    )
    assert {(e.channel, e.direct_purchase, e.buyer_id) for e in entries} == {("hall", True, uid)}
    too_much = {**sale, "client_sale_id": "tab-2"}
    short = op.post("/api/v1/locations/DL-HM/sales", json=too_much)
    assert short.status_code == 409
    no_code = op.post(
        "/api/v1/locations/DL-HM/sales", json={**sale, "client_sale_id": "tab-3", "card_code": None}
    )
    assert no_code.status_code == 422
    cash = op.post(
        "/api/v1/locations/DL-HM/sales",
        json={"client_sale_id": "tab-4", "lines": [{"sku": SKU, "quantity": 1}], "paid_with": "cash"},
    )
    assert cash.status_code == 201  # the other ways to pay work as before
    assert reconcile(trigger="test").status == "ok"


def test_fifty_concurrent_redemptions_of_one_card_never_overdraw_it(api, admin, shop):
    """50 orders paid at once with one card that holds five of them: exactly five are paid."""
    uid = _verified_unit(api, admin)
    code = _issue(admin, uid, count=1, value_fen=PRICE * 5)["cards"][0]["code"]
    buyers = [create_user(f"staff{i}@example.cn") for i in range(10)]
    clients = [api.as_user(b.email) for b in buyers]
    orders = [order(clients[i % 10]) for i in range(50)]
    db.session.rollback()
    start = threading.Barrier(50)
    results: list[int] = []
    lock = threading.Lock()

    def pay(i: int) -> None:
        client = shop.test_client()
        start.wait()
        r = client.post(
            f"/api/v1/orders/{orders[i]}/payments/card",
            json={"code": code},
            headers={"Authorization": f"Bearer {clients[i % 10].token}"},
        )
        with lock:
            results.append(r.status_code)

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(results)) == [200, 409], results
    assert results.count(200) == 5
    db.session.rollback()
    assert _balance(code[-4:]) == 0
    taken = db.session.scalar(select(func.sum(CardRedemption.amount_fen)))
    assert taken == PRICE * 5
    paid = db.session.scalar(text("SELECT count(*) FROM shop_order WHERE status = 'paid'"))
    assert paid == 5
    assert reconcile(trigger="test").status == "ok"
