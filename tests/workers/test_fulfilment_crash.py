"""Crash tests with a real Redis broker and real worker processes (never eager mode).

A worker killed with SIGKILL in the middle of a batch (after a pick batch committed, or inside one), a
message delivered twice: every paid order is fulfilled exactly once (one set of sale movements, one parcel or pickup ticket, one notice).
"""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import text

from shop.core.db import db
from tests.fulfilment.helpers import SHIP, operator, paid_order
from tests.orders.helpers import buyer
from tests.workers.fulfilment_support import (
    assert_each_fulfilled_once,
    fulfilled,
    picked,
    wait_until,
)
from tests.workers.support import process_env, start_beat, start_worker

pytestmark = pytest.mark.slow

# Every fulfilment step holds its transaction 300 ms, so a kill lands inside one; beat and the outbox
# sweep run every 1.5 s and re-send what a dead worker never finished after 3 s of silence.
CHAOS = {
    "FULFILMENT_STEP_DELAY_MS": "300",
    "BEAT_INTERVAL_SCALE": "0.05",
    "OUTBOX_STALE_SECONDS": "1",
    "OUTBOX_REDELIVER_SECONDS": "3",
}


def _paid_batch(n: int) -> list[int]:
    staff = operator()
    ids = []
    for i in range(n):
        delivery = SHIP if i % 3 == 0 else None
        lines = [("PEP-DHP-250G", 1)] if delivery else [("CHL-LINE-500G", 1), ("APL-HN-5KG", 1)]
        kwargs = {"delivery": delivery} if delivery else {}
        ids.append(paid_order(buyer(f"crash{i}@example.cn"), staff, lines=lines, **kwargs))
    return ids


def test_worker_killed_mid_batch_fulfils_every_order_exactly_once(seeded, pg_url, redis_url, tmp_path):
    redis.Redis.from_url(redis_url).flushdb()  # nothing left over from earlier tests on this database
    ids = _paid_batch(12)  # their fulfilment messages wait in Redis: no worker runs yet
    env = process_env(pg_url, redis_url, tmp_path, **CHAOS)
    procs = []
    try:
        first = start_worker(env, tmp_path, name="doomed")
        procs.append(first)
        wait_until(lambda: picked(ids) >= 3, timeout=30, what="the first orders picked", procs=procs)
        first.kill()  # SIGKILL to the whole worker: main process and its pool
        assert fulfilled(ids) < len(ids), "the kill must land before the batch is done"
        # Messages the dead worker had taken and never acknowledged: they would wait for the visibility
        # timeout (an hour); the outbox sweep sends them again within seconds.
        assert redis.Redis.from_url(redis_url).hlen("unacked") >= 1

        procs.append(start_worker(env, tmp_path, name="restarted"))
        procs.append(start_beat(env, tmp_path))
        wait_until(lambda: fulfilled(ids) == len(ids), timeout=30, what="every order fulfilled", procs=procs)
    finally:
        for p in procs:
            p.kill()
    assert_each_fulfilled_once(ids)


def test_the_same_message_delivered_twice_moves_stock_once(seeded, pg_url, redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    ids = _paid_batch(3)
    # Duplicate every waiting fulfilment message byte for byte (same task id), as a broker redelivery
    # after a lost acknowledgement would; two worker processes then run the copies side by side.
    raw = client.lrange("fulfilment", 0, -1)
    assert len(raw) == len(ids)
    client.rpush("fulfilment", *raw)
    task_ids = {json.loads(m)["headers"]["id"] for m in raw}
    env = process_env(pg_url, redis_url, tmp_path, FULFILMENT_STEP_DELAY_MS="300")
    worker = start_worker(env, tmp_path, concurrency=2)
    try:
        wait_until(
            lambda: fulfilled(ids) == len(ids), timeout=30, what="every order fulfilled", procs=[worker]
        )
        wait_until(
            lambda: client.llen("fulfilment") == 0, timeout=10, what="both copies consumed", procs=[worker]
        )
        wait_until(
            lambda: all(worker.output().count(f"{tid}] succeeded") == 2 for tid in task_ids),
            timeout=10,
            what="each copy run to the end",
            procs=[worker],
        )
    finally:
        worker.kill()
    assert_each_fulfilled_once(ids)


def _held_pick_messages() -> int:
    """Open pick messages some transaction holds locked now (a pick batch that has not committed)."""
    with db.engine.connect() as conn:
        total = conn.scalar(text(f"SELECT count(*) FROM outbox_message WHERE {_OPEN_PICKS}"))
        free = conn.scalar(
            text(
                f"SELECT count(*) FROM (SELECT id FROM outbox_message WHERE {_OPEN_PICKS} FOR UPDATE SKIP LOCKED) f"
            )
        )
        conn.rollback()
    return total - free


_OPEN_PICKS = "task = 'shop.fulfilment.fulfil_order' AND completed_at IS NULL AND failed_at IS NULL"


def test_worker_killed_inside_a_pick_batch_loses_and_doubles_nothing(seeded, pg_url, redis_url, tmp_path):
    """The kill lands while one task holds a batch of orders (its own message and the others' locked,
    stock taken, nothing committed): the batch rolls back as a whole, every message stays open, and the
    restarted worker fulfils each order exactly once."""
    redis.Redis.from_url(redis_url).flushdb()
    ids = _paid_batch(12)
    env = process_env(pg_url, redis_url, tmp_path, **{**CHAOS, "FULFILMENT_STEP_DELAY_MS": "3000"})
    procs = []
    try:
        first = start_worker(env, tmp_path, name="doomed", concurrency=1)
        procs.append(first)
        wait_until(lambda: _held_pick_messages() >= 3, timeout=30, what="a batch holding orders", procs=procs)
        first.kill()
        wait_until(lambda: _held_pick_messages() == 0, timeout=10, what="the batch rolled back")
        assert picked(ids) == 0 and fulfilled(ids) == 0

        procs.append(start_worker(env | {"FULFILMENT_STEP_DELAY_MS": "50"}, tmp_path, name="restarted"))
        procs.append(start_beat(env, tmp_path))
        wait_until(lambda: fulfilled(ids) == len(ids), timeout=40, what="every order fulfilled", procs=procs)
    finally:
        for p in procs:
            p.kill()
    assert_each_fulfilled_once(ids)
