"""Reservation expiry with two beat schedulers started by mistake: a real Redis broker and worker, the
job claims its period in the database, so it runs once per period and each order expires once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select, update

from shop.core.db import atomic, db, utcnow
from shop.core.models import PeriodicRun
from shop.inventory.models import StockMovement
from shop.inventory.services import reconcile
from shop.notifications.models import Notification
from shop.orders.models import Order, OrderStatusChange, order_reference
from tests.fulfilment.helpers import place
from tests.orders.helpers import buyer, reserved
from tests.workers.fulfilment_support import wait_until
from tests.workers.support import process_env, start_beat, start_worker

pytestmark = pytest.mark.slow


def _expired(ids) -> int:
    db.session.rollback()
    n = db.session.scalar(select(func.count()).where(Order.id.in_(ids), Order.status == "expired")) or 0
    db.session.rollback()
    return n


DUE = "Sending due task orders-expire-unpaid"
REFUSED = "shop.orders.expire_unpaid already ran this period"


def _runs() -> int:
    db.session.rollback()
    run = db.session.scalar(select(PeriodicRun).where(PeriodicRun.name == "shop.orders.expire_unpaid"))
    db.session.rollback()
    return run.runs if run else 0


def test_two_beats_expire_each_unpaid_order_once(seeded, pg_url, redis_url, tmp_path):
    redis.Redis.from_url(redis_url).flushdb()
    held_before = reserved("CHL-LINE-500G", "DL-HM")
    ids = [place(buyer(f"late{i}@example.cn"), [("CHL-LINE-500G", 2)]) for i in range(5)]
    with atomic():  # their reservations ran out a minute ago
        db.session.execute(
            update(Order).where(Order.id.in_(ids)).values(reserved_until=utcnow() - timedelta(minutes=1))
        )
    assert reserved("CHL-LINE-500G", "DL-HM") == held_before + 10

    scale = 0.05  # the one-minute expiry fires every 3 s
    env = process_env(pg_url, redis_url, tmp_path, BEAT_INTERVAL_SCALE=str(scale))
    worker = start_worker(env, tmp_path)
    beats = []
    # Runs are claimed from the first beat's start until the worker stops: measure that whole span, so a
    # slow machine (a beat taking seconds to start) cannot push an honest count over the bound.
    started = time.time()
    try:
        beats = [start_beat(env, tmp_path, "beat-a"), start_beat(env, tmp_path, "beat-b")]
        wait_until(
            lambda: _expired(ids) == len(ids), timeout=30, what="the orders expired", procs=[worker, *beats]
        )
        wait_until(lambda: _runs() >= 3, timeout=30, what="three expiry periods", procs=[worker, *beats])
        # On a loaded machine one beat may start late: wait until both have fired and one was refused.
        wait_until(
            lambda: all(b.output().count(DUE) for b in beats) and REFUSED in worker.output(),
            timeout=30,
            what="both beats fired and a second claim of a period was refused",
            procs=[worker, *beats],
        )
    finally:
        for b in beats:
            b.kill()
        worker.kill()
    elapsed = time.time() - started

    runs = _runs()
    interval = 60 * scale
    assert all(b.output().count(DUE) >= 1 for b in beats), "both schedulers fired the job"
    assert runs <= int(elapsed / (0.9 * interval)) + 1, "at most one run per period"
    assert REFUSED in worker.output()
    for oid in ids:
        changes = db.session.scalar(
            select(func.count()).where(
                OrderStatusChange.order_id == oid, OrderStatusChange.to_status == "expired"
            )
        )
        releases = db.session.scalar(
            select(func.count()).where(
                StockMovement.reference == order_reference(oid), StockMovement.kind == "release"
            )
        )
        told = db.session.scalar(
            select(func.count()).where(Notification.dedupe_key == f"order:{oid}:expired:")
        )
        assert (changes, releases, told) == (1, 1, 1), oid
    assert reserved("CHL-LINE-500G", "DL-HM") == held_before and reconcile() == []
