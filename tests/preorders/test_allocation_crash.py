"""A worker killed with SIGKILL in the middle of the harvest allocation: a restarted worker (the outbox
sweep re-sends the unfinished message) goes on, and every pledge is filled or refunded exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile as reconcile_aid
from shop.core.db import atomic, db
from shop.inventory.services import reconcile as reconcile_stock
from shop.orders.services import DeliveryRequest
from shop.payments.models import Refund
from shop.preorders import harvest, services
from shop.preorders.models import Campaign, Pledge
from tests.orders.helpers import buyer
from tests.preorders.helpers import PRICE, admin, campaign, close, pay_manually, pledge_orders
from tests.workers.fulfilment_support import PrivateRedis, wait_until
from tests.workers.support import process_env, start_beat, start_worker

pytestmark = pytest.mark.slow

PLEDGES, UNITS = 40, 30
CHAOS = {
    "FULFILMENT_STEP_DELAY_MS": "300",
    "BEAT_INTERVAL_SCALE": "0.05",
    "OUTBOX_STALE_SECONDS": "1",
    "OUTBOX_REDELIVER_SECONDS": "3",
}


def _settled(campaign_id: int) -> int:
    db.session.rollback()
    n = db.session.scalar(
        select(func.count()).where(Pledge.campaign_id == campaign_id, Pledge.settled_at.is_not(None))
    )
    db.session.rollback()
    return int(n or 0)


def test_worker_killed_mid_allocation_settles_each_pledge_once(seeded, pg_url, tmp_path):
    c = campaign("CRASH", cap=PLEDGES, per_buyer=1)
    code, campaign_id = c.code, c.id
    for i in range(PLEDGES):
        with atomic():
            services.place_pledge(
                buyer(f"crash{i}@x.cn"), code, 1, DeliveryRequest(type="pickup", location="DL-HM")
            )
    t0 = close(code) - timedelta(minutes=30)
    for i, (_p, order) in enumerate(pledge_orders(code)):
        pay_manually(order.id, at=t0 + timedelta(seconds=i))
    with atomic():
        harvest.record_harvest(code, units=UNITS, actor=admin())

    # The workers get a broker of their own (the shared Redis may carry other test runs' messages); the
    # outbox sweep sends the harvest's message there, as it does after any broker outage.
    broker = PrivateRedis(tmp_path)
    broker.start()
    env = process_env(pg_url, broker.url, tmp_path, **CHAOS)
    procs = []
    try:
        procs.append(start_beat(env, tmp_path))
        first = start_worker(env, tmp_path, name="doomed")
        procs.append(first)
        wait_until(
            lambda: _settled(campaign_id) >= 5, timeout=60, what="the first pledges settled", procs=procs
        )
        first.kill()
        assert _settled(campaign_id) < PLEDGES, "the kill must land before the allocation is done"
        procs.append(start_worker(env, tmp_path, name="restarted"))

        def done() -> bool:
            db.session.rollback()
            status = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
            db.session.rollback()
            return status == "done"

        wait_until(done, timeout=90, what="the allocation finished", procs=procs)
    finally:
        for p in procs:
            p.kill()
        broker.kill()

    rows = pledge_orders(code)
    filled = [o for p, o in rows if p.outcome == "fill"]
    refunded = [o for p, o in rows if p.outcome == "refund"]
    assert len(filled) == UNITS and len(refunded) == PLEDGES - UNITS
    assert all(o.aid_counted for o in filled) and not any(o.aid_counted for o in refunded)
    assert all(o.status == "refunded" for o in refunded)
    assert db.session.scalar(select(func.count()).select_from(Refund)) == PLEDGES - UNITS
    qty, amount = db.session.execute(
        select(func.sum(AidEntry.quantity), func.sum(AidEntry.amount_fen)).where(
            AidEntry.channel == "subscription"
        )
    ).one()
    assert (qty, amount) == (UNITS, UNITS * PRICE)
    db.session.rollback()
    assert reconcile_stock() == []
    assert reconcile_aid(trigger="test").status == "ok"
