"""Recovery after a worker is killed no longer waits OUTBOX_REDELIVER_SECONDS (issue #13, item 14).

Real Redis, real worker and beat processes. The slow bound stays at its default (900 s): the orders are
fulfilled within seconds because the killed worker's heartbeat stops and the sweep sends again exactly
the messages it held, while the messages of the live worker are left alone.
"""

from __future__ import annotations

import signal

import pytest
import redis
from sqlalchemy import func, select

from shop.core.db import db
from shop.core.models import OutboxMessage, WorkerHeartbeat
from tests.workers.fulfilment_support import assert_each_fulfilled_once, fulfilled, picked, wait_until
from tests.workers.support import process_env, start_beat, start_worker
from tests.workers.test_fulfilment_crash import _paid_batch

pytestmark = pytest.mark.slow

FAST_DEATH = {
    "FULFILMENT_STEP_DELAY_MS": "300",
    "BEAT_INTERVAL_SCALE": "0.05",  # the sweep every 1.5 s
    "OUTBOX_STALE_SECONDS": "1",
    "OUTBOX_REDELIVER_SECONDS": "900",  # the default: waiting for it would take 15 minutes
    "WORKER_HEARTBEAT_SECONDS": "0.5",
    "WORKER_DEAD_AFTER_SECONDS": "2",
    # One order per pick task, so the killed worker holds several messages of work not done yet (a batch
    # would pick every order in its first task; batches under a kill: test_fulfilment_crash.py).
    "FULFILMENT_BATCH_SIZE": "1",
}


def _heartbeats() -> set[str]:
    db.session.rollback()
    names = set(db.session.scalars(select(WorkerHeartbeat.hostname)))
    db.session.rollback()
    return names


def _recorded_by(prefix: str) -> int:
    """Open messages the heartbeat of a worker named ``prefix...`` recorded as held."""
    db.session.rollback()
    n = db.session.scalar(
        select(func.count()).where(
            OutboxMessage.completed_at.is_(None), OutboxMessage.seen_by.startswith(prefix)
        )
    )
    db.session.rollback()
    return n or 0


def test_a_killed_workers_messages_are_sent_again_within_seconds(seeded, pg_url, redis_url, tmp_path):
    redis.Redis.from_url(redis_url).flushdb()
    ids = _paid_batch(9)
    env = process_env(pg_url, redis_url, tmp_path, **FAST_DEATH)
    procs = []
    try:
        first = start_worker(env, tmp_path, name="doomed")
        procs.append(first)
        wait_until(
            lambda: any(n.startswith("doomed@") for n in _heartbeats()), timeout=20, what="a heartbeat"
        )
        # Killed once it holds messages its heartbeat has recorded (two steps running): a message taken in
        # the last moments before a kill has no record yet, and waits for the slow bound.
        wait_until(
            lambda: picked(ids) >= 2 and _recorded_by("doomed@") >= 2,
            timeout=30,
            what="the first orders picked and the next ones held",
            procs=procs,
        )
        first.kill()  # SIGKILL: no clean shutdown, the heartbeat row stays and goes stale
        assert fulfilled(ids) < len(ids), "the kill must land before the batch is done"
        assert redis.Redis.from_url(redis_url).hlen("unacked") >= 1

        procs.append(start_worker(env, tmp_path, name="restarted"))
        procs.append(start_beat(env, tmp_path))
        wait_until(lambda: fulfilled(ids) == len(ids), timeout=40, what="every order fulfilled", procs=procs)
    finally:
        for p in procs:
            p.kill()
    assert_each_fulfilled_once(ids)
    swept = procs[1].output()
    assert "whose heartbeat stopped; sending it again" in swept  # the heartbeat, not the 900 s bound
    assert "sent but never completed" not in swept


def test_a_worker_stopped_cleanly_removes_its_heartbeat(seeded, pg_url, redis_url, tmp_path):
    env = process_env(pg_url, redis_url, tmp_path, **FAST_DEATH)
    worker = start_worker(env, tmp_path, name="polite")
    try:
        wait_until(
            lambda: any(n.startswith("polite@") for n in _heartbeats()), timeout=20, what="a heartbeat"
        )
    finally:
        worker.kill(signal.SIGTERM)  # warm shutdown
    assert not any(n.startswith("polite@") for n in _heartbeats())
