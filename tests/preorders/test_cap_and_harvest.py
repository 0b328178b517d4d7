"""The issue's "done when": 150 one-unit pledges at once against a cap of 100 -> exactly 100; a harvest of
80 fills the first 80 paid and refunds 20; aid counts 80 units under ``subscription``; the stock ledger
and aid reconciliation show no drift; the harvest call repeated and the task run twice change nothing."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile as reconcile_aid
from shop.core.db import atomic, db
from shop.core.models import OutboxMessage
from shop.fulfilment.services import pick_order
from shop.inventory.models import StockMovement
from shop.inventory.services import reconcile as reconcile_stock
from shop.payments.models import Refund
from shop.preorders import harvest
from shop.preorders.models import Campaign
from tests.orders.helpers import buyer, token
from tests.preorders.helpers import (
    PICKUP,
    PRICE,
    admin,
    campaign,
    close,
    pay_manually,
    pledge_orders,
    settle_all,
)

PLEDGERS = 150
CAP = 100
HARVEST = 80


def _pledge_at_once(app, code: str) -> list[tuple[int, dict]]:
    people = [buyer(f"pledger{i}@x.cn") for i in range(PLEDGERS)]
    tokens = [token(p) for p in people]
    db.session.rollback()
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(PLEDGERS)

    def pledge(i: int) -> None:
        client = app.test_client()
        start.wait()
        r = client.post(
            f"/api/v1/campaigns/{code}/pledges",
            json={"quantity": 1, "delivery": PICKUP},
            headers={"Authorization": f"Bearer {tokens[i]}", "Idempotency-Key": f"pledge-{i}"},
        )
        with lock:
            results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=pledge, args=(i,)) for i in range(PLEDGERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_cap_holds_under_a_rush_and_the_harvest_fills_in_payment_order(seeded):
    app = seeded
    c = campaign(cap=CAP, per_buyer=2)
    code, campaign_id = c.code, c.id

    results = _pledge_at_once(app, code)
    codes = [status for status, _ in results]
    assert codes.count(201) == CAP, sorted(set(codes))
    assert codes.count(409) == PLEDGERS - CAP
    for status, body in results:
        if status == 409:
            assert body["type"].endswith("campaign-cap-reached"), body
        else:
            assert body["status"] == "pending_payment" and body["quantity"] == 1 and body["order_id"]
    db.session.rollback()
    assert db.session.get(Campaign, campaign_id).pledged_units == CAP
    rows = pledge_orders(code)
    assert len(rows) == CAP
    assert all(o.kind == "pledge" and o.reservation_state == "pledged" for _p, o in rows)
    # A pledge reserves no stock: nothing was written to the stock ledger.
    assert (
        db.session.scalar(
            select(func.count()).select_from(StockMovement).where(StockMovement.reference.like("order:%"))
        )
        == 0
    )

    # Paid in a shuffled order, one second apart: the payment order decides who is filled.
    order_ids = [o.id for _p, o in rows]
    random.Random(17).shuffle(order_ids)
    t0 = close(code) - timedelta(minutes=30)
    for i, order_id in enumerate(order_ids):
        pay_manually(order_id, at=t0 + timedelta(seconds=i))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 0, "a pledge counts when filled"

    with atomic():
        done = harvest.record_harvest(code, units=HARVEST, actor=admin(), lot="HN-2026-09", best_before=None)
        assert (done.allocated_units, done.refunded_units) == (HARVEST, CAP - HARVEST)
    movements_after_harvest = db.session.scalar(select(func.count()).select_from(StockMovement))

    # The same call again changes nothing (through the API too).
    from tests.orders.helpers import auth

    client = app.test_client()
    r = client.post(
        f"/api/v1/admin/campaigns/{code}/harvest",
        json={"units": HARVEST, "lot": "HN-2026-09"},
        headers=auth(admin()),
    )
    assert r.status_code == 200, r.get_json()
    assert (r.json["allocated_units"], r.json["refunded_units"]) == (HARVEST, CAP - HARVEST)
    r = client.post(f"/api/v1/admin/campaigns/{code}/harvest", json={"units": 90}, headers=auth(admin()))
    assert r.status_code == 409
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == movements_after_harvest

    settle_all(campaign_id, batch=30)
    settle_all(campaign_id, batch=30)  # a duplicate message finds nothing left
    assert harvest.allocate_batch(campaign_id) == 0

    db.session.rollback()
    c = db.session.get(Campaign, campaign_id)
    assert c.status == "done"
    first = set(order_ids[:HARVEST])
    rows = pledge_orders(code)
    filled = [o for p, o in rows if p.outcome == "fill"]
    refunded = [o for p, o in rows if p.outcome == "refund"]
    assert {o.id for o in filled} == first
    assert len(refunded) == CAP - HARVEST
    assert all(o.status == "paid" and o.reservation_state == "held" and o.aid_counted for o in filled)
    assert all(
        o.status == "refunded" and o.refunded_fen == o.paid_fen and not o.aid_counted for o in refunded
    )
    refunds = db.session.scalars(select(Refund)).all()
    assert len(refunds) == CAP - HARVEST and {r.order_id for r in refunds} == {o.id for o in refunded}
    assert all(r.amount_fen == PRICE and r.gateway == "manual" for r in refunds)
    sent = db.session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.task == "shop.fulfilment.fulfil_order")
    ).all()
    assert sorted(p["order_id"] for p in sent) == sorted(first)

    # Aid: exactly the 80 filled units, under subscription; refunded pledges never counted.
    qty, amount = db.session.execute(
        select(func.sum(AidEntry.quantity), func.sum(AidEntry.amount_fen)).where(
            AidEntry.channel == "subscription"
        )
    ).one()
    assert (qty, amount) == (HARVEST, HARVEST * PRICE)
    assert (
        db.session.scalar(
            select(func.count()).select_from(AidEntry).where(AidEntry.channel != "subscription")
        )
        == 0
    )

    # Filled pledges go to fulfilment like any order: picked from the harvest lot.
    for o in filled:
        with atomic():
            assert pick_order(o.id) == "picked"
    db.session.rollback()
    assert reconcile_stock() == []
    run = reconcile_aid(trigger="test")
    assert run.status == "ok", run.differences
    # The harvest lot: 80 in, 80 picked for the filled pledges.
    lot_moves = db.session.execute(
        select(StockMovement.kind, func.sum(StockMovement.quantity))
        .where(StockMovement.reference.in_([f"order:{o.id}" for o in filled] + [f"campaign:{code}"]))
        .group_by(StockMovement.kind)
    ).all()
    moves = dict(lot_moves)
    assert (moves["receipt"], moves["online_sale"]) == (HARVEST, -HARVEST)
