"""The sweep re-sends at once what a dead worker held, and everything when the broker lost its queues
(issue #13, item 14); a live worker's messages are left alone. Real PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import redis
from celery import shared_task
from sqlalchemy import create_engine, select, text, update

from shop.core.db import atomic, db, utcnow
from shop.core.heartbeat import Heartbeat, beat, claim, forget
from shop.core.models import OutboxMessage, WorkerHeartbeat
from shop.core.outbox import enqueue, relay, sweep


@shared_task(name="tests.heartbeat_noop")
def heartbeat_noop_task(**payload):
    return payload


def _broker(app) -> redis.Redis:
    return redis.Redis.from_url(app.extensions["celery"].conf.broker_url)


def _message(n: int, **row) -> int:
    with atomic():
        msg = enqueue("tests.heartbeat_noop", {"n": n})
    if row:
        with atomic():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id == msg.id).values(**row))
    return msg.id


def _resent(ids: list[int]) -> set[int]:
    """Which of the messages the last sweep published again (their holder was forgotten)."""
    db.session.rollback()
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.attempts).where(OutboxMessage.id.in_(ids))
    )
    return {i for i, attempts in rows if attempts == 2}


def test_messages_of_a_dead_worker_are_sent_again_at_once(app):
    long_ago = utcnow() - timedelta(minutes=10)
    with atomic():
        beat(db.engine, "alive@host", pid=1)
        beat(db.engine, "stale@host", pid=2)
        db.session.execute(
            update(WorkerHeartbeat).where(WorkerHeartbeat.hostname == "stale@host").values(beat_at=long_ago)
        )
    ids = {
        "no heartbeat": _message(1, seen_by="gone@host", seen_at=long_ago),
        "stale heartbeat": _message(2, seen_by="stale@host", seen_at=long_ago),
        "live worker": _message(3, seen_by="alive@host", seen_at=long_ago),
        "just started": _message(4, seen_by="gone@host", seen_at=utcnow()),
        "done": _message(5, seen_by="gone@host", seen_at=long_ago, completed_at=utcnow()),
        "never seen": _message(6),
    }
    assert _broker(app).llen("default") == 6
    settings = app.extensions["settings"]
    assert settings.OUTBOX_REDELIVER_SECONDS == 900  # the slow bound would not have sent any yet

    assert sweep() == 2
    assert _resent(list(ids.values())) == {ids["no heartbeat"], ids["stale heartbeat"]}
    assert _broker(app).llen("default") == 8
    held = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == ids["no heartbeat"]))
    assert held.seen_by is None and held.seen_at is None  # its new holder will record itself
    assert sweep() == 0  # once: not again at every sweep


def test_a_worker_that_stops_cleanly_leaves_no_heartbeat(app):
    hb = Heartbeat(db.engine.url, "clean@host", every_seconds=0.05)
    hb.start()
    db.session.rollback()
    assert db.session.get(WorkerHeartbeat, "clean@host") is not None
    hb.stop()
    db.session.rollback()
    assert db.session.get(WorkerHeartbeat, "clean@host") is None
    forget(db.engine, "clean@host")  # twice is harmless


def test_a_broker_that_lost_its_queues_gets_every_message_again(app):
    first = _message(1)
    assert sweep() == 0  # the sweep leaves its marker in the broker
    client = _broker(app)
    assert client.llen("default") == 1
    client.flushdb()  # what a Redis restart without persistence does
    second = _message(2)
    assert client.llen("default") == 1
    assert sweep() == 2  # both in flight: the lost one and (harmlessly) the one sent after
    assert client.llen("default") == 3
    assert _resent([first, second]) == {first, second}
    assert sweep() == 0


def test_a_message_taken_but_not_started_is_recorded_as_held(app):
    """Prefetched messages wait in the worker's main process; it records them as its own at once."""
    msg_id = _message(1)
    hb = Heartbeat(db.engine.url, "prefetcher@host", every_seconds=5)
    hb.start()
    try:
        hb.held(msg_id)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.get(OutboxMessage, msg_id).seen_by == "prefetcher@host":
                break
            time.sleep(0.05)
        assert db.session.get(OutboxMessage, msg_id).seen_by == "prefetcher@host"
    finally:
        hb._stop.set()  # killed: no clean stop, the heartbeat row stays and goes stale
        hb._wake.set()
    with atomic():
        db.session.execute(update(WorkerHeartbeat).values(beat_at=utcnow() - timedelta(minutes=10)))
        db.session.execute(update(OutboxMessage).values(seen_at=utcnow() - timedelta(minutes=10)))
    assert sweep() == 1 and _resent([msg_id]) == {msg_id}


def test_the_heartbeat_does_not_wait_for_a_message_a_batch_holds(app):
    """A batch holds the row (FOR UPDATE): the record skips it at once and says it is still to record;
    once the batch let it go, the next record writes it."""
    msg_id = _message(2)
    other = db.engine.connect()
    other.execute(text("SELECT id FROM outbox_message WHERE id = :id FOR UPDATE"), {"id": msg_id})
    # Waiting for the lock would fail after 2 s instead of hanging the test.
    impatient = create_engine(db.engine.url, connect_args={"options": "-c lock_timeout=2000"})
    try:
        assert claim(impatient, "holder@host", [msg_id]) == [msg_id]
    finally:
        impatient.dispose()
        other.rollback()
        other.close()
    db.session.rollback()
    assert db.session.get(OutboxMessage, msg_id).seen_by is None
    db.session.rollback()
    assert claim(db.engine, "holder@host", [msg_id]) == []
    assert db.session.get(OutboxMessage, msg_id).seen_by == "holder@host"


def test_the_relay_does_not_wait_for_a_message_a_batch_holds(app):
    """The relay publishes a message a batch holds (FOR UPDATE) and leaves its "sent" mark to the batch,
    which completes the row, or to the sweep: it never waits inside a cycle of locks with the batch."""
    msg_id = _message(3, sent_at=None)
    before = _broker(app).llen("default")
    other = db.engine.connect()
    other.execute(text("SELECT id FROM outbox_message WHERE id = :id FOR UPDATE"), {"id": msg_id})
    outcome: list[int] = []

    def relay_it() -> None:
        with app.app_context():
            try:
                outcome.append(relay(ids=[msg_id]))
            finally:
                db.session.remove()

    worker = threading.Thread(target=relay_it)
    worker.start()
    try:
        worker.join(timeout=5)
        waited = worker.is_alive()
    finally:
        other.rollback()
        other.close()
        worker.join(timeout=10)
    assert not waited, "the relay waited for the batch's lock"
    assert outcome == [1] and _broker(app).llen("default") == before + 1
    db.session.rollback()
    assert db.session.get(OutboxMessage, msg_id).sent_at is None  # left to the batch or the sweep
