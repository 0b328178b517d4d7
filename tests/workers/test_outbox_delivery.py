"""The outbox keeps every message until a worker has run it: re-sending what was lost, marking what
keeps failing, pausing the after-commit relay while the broker is down, and refusing to publish from
inside an open unit of work."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, text, update

from shop.core import outbox
from shop.core.db import atomic, db, utcnow
from shop.core.models import OutboxMessage, TaskFailure
from tests.conftest import make_app
from tests.workers.fulfilment_support import wait_until
from tests.workers.support import process_env, start_worker


def _queued(redis_url: str, queue: str) -> list[dict]:
    return [json.loads(m) for m in redis.Redis.from_url(redis_url).lrange(queue, 0, -1)]


def _age(msg_id: int, **columns_seconds_ago: int) -> None:
    with atomic():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == msg_id)
            .values(**{c: utcnow() - timedelta(seconds=s) for c, s in columns_seconds_ago.items()})
        )


def test_published_but_never_completed_is_sent_again_with_its_outbox_id(app, redis_url):
    redis.Redis.from_url(redis_url).delete("reports")
    with atomic():
        msg = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
    first = _queued(redis_url, "reports")
    assert [m["headers"]["shop_outbox_id"] for m in first] == [msg.id]
    assert outbox.sweep() == 0  # just sent: nothing to do

    _age(msg.id, sent_at=3600)  # an hour of silence: lost with a dead worker or a restarted Redis
    settings = app.extensions["settings"]
    assert outbox.redeliver(silent_for_seconds=settings.OUTBOX_REDELIVER_SECONDS) == 1
    assert len(_queued(redis_url, "reports")) == 2
    db.session.rollback()
    assert db.session.get(OutboxMessage, msg.id).attempts == 2

    _age(msg.id, sent_at=3600, seen_at=10)  # a worker started it 10 s ago: alive, leave it
    assert outbox.redeliver(silent_for_seconds=settings.OUTBOX_REDELIVER_SECONDS) == 0
    outbox.mark_completed(msg.id)
    _age(msg.id, sent_at=3600, seen_at=3600)
    assert outbox.redeliver(silent_for_seconds=0) == 0  # done is done
    redis.Redis.from_url(redis_url).delete("reports")


def test_a_message_that_never_completes_is_marked_failed_and_can_be_requeued(app, redis_url):
    settings = app.extensions["settings"]
    with atomic():
        msg = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
    with atomic():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == msg.id)
            .values(attempts=settings.OUTBOX_MAX_ATTEMPTS)
        )
    _age(msg.id, sent_at=3600)
    assert outbox.redeliver(silent_for_seconds=60) == 0
    db.session.rollback()
    row = db.session.get(OutboxMessage, msg.id)
    assert row.failed_at is not None and "not completed after" in row.last_error
    assert outbox.stats().failed == 1 and outbox.sweep() == 0

    assert outbox.requeue(msg.id) is True  # an admin sends it again from the queues page
    db.session.rollback()
    row = db.session.get(OutboxMessage, msg.id)
    assert row.failed_at is None and row.sent_at is not None and row.attempts == 1
    redis.Redis.from_url(redis_url).delete("reports")


def test_broker_down_pauses_the_after_commit_relay_and_leaves_rows_to_the_sweep(app, pg_url, tmp_path):
    down = make_app(pg_url, "redis://127.0.0.1:1/0", tmp_path)  # nothing listens on port 1
    try:
        with down.app_context():
            with atomic():
                first = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
            with atomic():  # moments later: not even tried, the request returns at once
                second = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
            db.session.rollback()
            rows = {r.id: r for r in db.session.scalars(select(OutboxMessage))}
            assert rows[first.id].attempts == 1 and rows[first.id].last_error
            assert rows[second.id].attempts == 0 and rows[second.id].sent_at is None
            assert outbox.pending_count() == 2
            db.session.remove()
    finally:
        with down.app_context():
            db.engine.dispose()
    db.session.rollback()
    assert outbox.relay(older_than_seconds=0) == 2  # the broker this app reaches is up


def test_publishing_inside_a_unit_of_work_is_refused(app):
    celery_app = app.extensions["celery"]
    with pytest.raises(RuntimeError, match="inside atomic"), atomic():
        celery_app.send_task("shop.stock.reconcile", queue="reports")


def test_a_real_worker_marks_messages_seen_and_completed_and_records_failures(
    app, pg_url, redis_url, tmp_path
):
    redis.Redis.from_url(redis_url).flushdb()
    with atomic():
        good = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
        # A payload no code path would produce: the task fails for good (not a retryable error).
        bad = outbox.enqueue("shop.fulfilment.fulfil_order", {"order_id": "not-a-number"}, queue="fulfilment")
    worker = start_worker(process_env(pg_url, redis_url, tmp_path), tmp_path)
    try:

        def settled() -> bool:
            db.session.rollback()
            done = db.session.get(OutboxMessage, good.id).completed_at is not None
            failed = db.session.scalar(select(TaskFailure).where(TaskFailure.outbox_id == bad.id)) is not None
            db.session.rollback()
            return done and failed

        wait_until(settled, timeout=30, what="both messages handled", procs=[worker])
    finally:
        worker.kill()
    db.session.rollback()
    ok = db.session.get(OutboxMessage, good.id)
    assert ok.seen_at is not None and ok.completed_at is not None
    broken = db.session.get(OutboxMessage, bad.id)
    assert broken.completed_at is None and broken.seen_at is not None and broken.last_error
    failure = db.session.scalar(select(TaskFailure).where(TaskFailure.outbox_id == bad.id))
    assert failure.task == "shop.fulfilment.fulfil_order" and failure.kwargs == {"order_id": "not-a-number"}
    assert "Traceback" in failure.traceback


def test_purge_keeps_open_messages(app):
    with atomic():
        old_done = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
        still_open = outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
    outbox.mark_completed(old_done.id)
    outbox.record_failure(task="t", task_id="x", kwargs={}, error="e", traceback="", outbox_id=None)
    _age(old_done.id, created_at=40 * 86400, completed_at=40 * 86400)
    with atomic():
        db.session.execute(update(TaskFailure).values(at=utcnow() - timedelta(days=40)))
    assert outbox.purge(older_than_days=14) == 2
    db.session.rollback()
    assert [m.id for m in db.session.scalars(select(OutboxMessage))] == [still_open.id]


def test_queue_depths_are_read_from_redis(app, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete("payments")
    client.rpush("payments", "a", "b")
    try:
        depths = outbox.queue_depths()
        assert depths["payments"] == 2 and set(outbox.QUEUES) <= set(depths)
    finally:
        client.delete("payments")


def test_queue_depths_on_the_file_broker(sqlite_app):
    with atomic():
        outbox.enqueue("shop.stock.reconcile", {}, queue="reports")
    assert outbox.queue_depths()["reports"] == 1
    folder = sqlite_app.extensions["settings"].broker_folder
    assert (folder / "control").is_dir()  # exchange tables live with the data, not in the source tree


def test_upgrade_marks_messages_sent_before_completion_tracking_as_done(tmp_path):
    from flask_migrate import upgrade

    a = make_app(f"sqlite:///{tmp_path / 'up.db'}", None, tmp_path)
    with a.app_context():
        upgrade(revision="0005")
        db.session.execute(
            text(
                "INSERT INTO outbox_message (task, payload, queue, created_at, sent_at, attempts, last_error,"
                " request_id) VALUES ('t', '{}', 'default', '2026-01-01', '2026-01-01', 1, '', ''),"
                " ('u', '{}', 'default', '2026-01-01', NULL, 1, '', '')"
            )
        )
        db.session.commit()
        upgrade()
        rows = dict(db.session.execute(text("SELECT task, completed_at FROM outbox_message")).all())
        assert rows["t"] is not None and rows["u"] is None
        db.session.remove()
        db.engine.dispose()


def test_the_redis_restore_guard_keeps_a_worker_alive_on_a_released_connection(redis_url):
    """The exact kombu failure seen in the outage test: restoring unacknowledged messages through a
    channel whose connection was already released raises AttributeError; guarded, it is logged."""
    from kombu import Connection
    from kombu.transport import redis as kombu_redis

    from shop.core.celery_app import guard_redis_restore_on_lost_connection

    def released_channel(conn):
        channel = conn.channel()
        channel._pool = None  # what a lost connection leaves behind
        channel.connection.client = None
        return channel

    guard_redis_restore_on_lost_connection()
    guarded = kombu_redis.QoS.restore_unacked
    assert getattr(guarded, "shop_guarded", False)
    with Connection(redis_url) as conn:
        channel = released_channel(conn)
        assert channel.qos.restore_unacked() is None
    with Connection(redis_url) as conn:
        channel = released_channel(conn)
        with pytest.raises(AttributeError):
            guarded.shop_original(channel.qos)  # kombu's own method fails exactly so
