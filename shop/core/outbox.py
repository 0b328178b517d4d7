"""Transactional outbox: side effects leave only after the commit that justifies them.

``enqueue()`` writes an OutboxMessage in the current unit of work and asks for a relay right after the
commit. The relay publishes the message to Celery and marks it sent. If publishing fails (broker down,
process killed between commit and publish), the row stays unsent and ``sweep()``, run by beat, sends it
later. A message may therefore be delivered more than once: every task is idempotent.

``OUTBOX_DELIVERY=inline`` runs the task in-process with Celery's own ``apply`` right after commit, for
tests and tools that have no worker running; the default ``celery`` publishes to the broker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from shop.core.db import after_commit, atomic, db, in_unit_of_work, utcnow
from shop.core.models import OutboxMessage

log = logging.getLogger(__name__)

QUEUES = ("default", "payments", "fulfilment", "reports")


def enqueue(task: str, payload: dict, *, queue: str = "default") -> OutboxMessage:
    """Write a message for ``task`` in the current transaction; it is relayed after commit."""
    if not in_unit_of_work():
        raise RuntimeError("enqueue() must run inside atomic()")
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue}")
    from shop.ops.logging import current_request_id

    msg = OutboxMessage(task=task, payload=payload, queue=queue, request_id=current_request_id())
    db.session.add(msg)
    db.session.flush()
    msg_id = msg.id
    after_commit(lambda: relay([msg_id]))
    return msg


def _publish(msg: OutboxMessage) -> None:
    celery_app = current_app.extensions["celery"]
    if current_app.extensions["settings"].OUTBOX_DELIVERY == "inline":
        result = celery_app.tasks[msg.task].apply(
            kwargs=msg.payload, headers={"shop_request_id": msg.request_id or "-"}
        )
        if result.failed():
            raise RuntimeError(f"{msg.task} failed: {result.result!r}")
        return
    celery_app.send_task(
        msg.task, kwargs=msg.payload, queue=msg.queue, headers={"shop_request_id": msg.request_id or "-"}
    )


def relay(ids: list[int] | None = None, *, older_than_seconds: int | None = None, limit: int = 500) -> int:
    """Publish unsent messages (these ``ids``, or those older than the threshold); return how many."""
    stmt = (
        select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id).limit(limit)
    )
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    if older_than_seconds is not None:
        stmt = stmt.where(OutboxMessage.created_at <= utcnow() - timedelta(seconds=older_than_seconds))
    messages = list(db.session.scalars(stmt))
    db.session.rollback()  # end the read; each message is marked in its own small transaction
    sent = 0
    for msg in messages:
        try:
            _publish(msg)
        except Exception as exc:  # broker down, task failed inline: keep it for the sweep
            log.warning("outbox message %s (%s) not sent: %s", msg.id, msg.task, exc)
            with atomic():
                db.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == msg.id)
                    .values(attempts=OutboxMessage.attempts + 1, last_error=str(exc)[:500])
                )
            continue
        with atomic():
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == msg.id, OutboxMessage.sent_at.is_(None))
                .values(sent_at=utcnow(), attempts=OutboxMessage.attempts + 1)
            )
        sent += 1
    return sent


def sweep() -> int:
    """Re-send messages that were not sent soon after their commit (run periodically by beat)."""
    return relay(older_than_seconds=current_app.extensions["settings"].OUTBOX_STALE_SECONDS)


def pending_count() -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) or 0
