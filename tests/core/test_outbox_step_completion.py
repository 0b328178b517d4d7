"""A task that completes its outbox message in its own transaction (``complete_with_this_transaction``):
the completion commits with the work or rolls back with it, and the task base class then writes neither
``mark_seen`` nor ``mark_completed`` on a first attempt; a retry still records that it is alive."""

import pytest
from celery import shared_task
from sqlalchemy import select, update

from shop.catalog.models import Category
from shop.core import outbox
from shop.core.db import atomic, db
from shop.core.models import OutboxMessage

FAIL_AFTER_COMPLETING: list[bool] = []


@shared_task(name="tests.step_completing_in_its_transaction", completes_in_step=True)
def step_task(code: str) -> str:
    with atomic():
        db.session.add(Category(code=code, name_zh=code, name_en=code))
        outbox.complete_with_this_transaction()
        if FAIL_AFTER_COMPLETING:
            raise RuntimeError("the step failed after asking for its completion")
    return "done"


def _written(app, monkeypatch, code: str) -> int:
    monkeypatch.setattr(app.extensions["celery"], "send_task", lambda *a, **kw: None)
    with atomic():
        msg = outbox.enqueue("tests.step_completing_in_its_transaction", {"code": code})
    return msg.id  # written with the unit of work's flush: the id is known once it committed


def _run_as_worker(app, msg_id: int, *, retries: int = 0):
    task = app.extensions["celery"].tasks["tests.step_completing_in_its_transaction"]
    payload = db.session.get(OutboxMessage, msg_id).payload
    db.session.rollback()
    task.push_request(
        id=f"t-{msg_id}",
        headers={"shop_outbox_id": msg_id},
        hostname="w1@host",
        is_eager=False,
        retries=retries,
    )
    try:
        return task(**payload)
    finally:
        task.pop_request()


def _row(msg_id: int) -> OutboxMessage:
    db.session.rollback()
    return db.session.get(OutboxMessage, msg_id)


def _category(code: str):
    db.session.rollback()
    return db.session.scalar(select(Category).where(Category.code == code))


def test_completion_commits_with_the_step(app, monkeypatch):
    msg_id = _written(app, monkeypatch, "ok")
    seen_by_heartbeat_at = _row(msg_id).seen_at
    assert seen_by_heartbeat_at is None and _row(msg_id).sent_at is not None
    assert _run_as_worker(app, msg_id) == "done"
    row = _row(msg_id)
    assert _category("ok") is not None
    assert row.completed_at is not None and row.seen_by == "w1@host" and row.seen_at is not None


def test_a_failed_step_leaves_its_message_open_for_the_retry(app, monkeypatch):
    msg_id = _written(app, monkeypatch, "broken")
    FAIL_AFTER_COMPLETING.append(True)
    try:
        with pytest.raises(RuntimeError):
            _run_as_worker(app, msg_id)
    finally:
        FAIL_AFTER_COMPLETING.clear()
    row = _row(msg_id)
    assert row.completed_at is None and _category("broken") is None  # nothing of the step, nor its completion
    assert row.seen_at is None  # a first attempt leaves "seen" to the worker's heartbeat claim

    # The retry: marked seen (alive, waiting) as it starts, then completed with its step.
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == msg_id).values(seen_by="other@host"))
    db.session.commit()
    assert _run_as_worker(app, msg_id, retries=1) == "done"
    row = _row(msg_id)
    assert row.completed_at is not None and row.seen_by == "w1@host" and _category("broken") is not None


def test_outside_a_worker_completing_does_nothing(app, monkeypatch):
    msg_id = _written(app, monkeypatch, "inline")
    with atomic():
        outbox.complete_with_this_transaction()  # no message is running in this process
    assert _row(msg_id).completed_at is None
