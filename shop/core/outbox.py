"""Transactional outbox: side effects leave only after the commit that justifies them, and nothing is lost.

``enqueue()`` writes an OutboxMessage in the current unit of work and asks for a relay right after the
commit. The relay publishes the message to Celery and marks it sent. A message then goes through:

    written -> sent (published) -> seen (a worker started it) -> completed (the task finished)

- Publishing failed (broker down, process killed between commit and publish): the row stays unsent and
  ``sweep()``, run by beat, sends it once it is older than ``OUTBOX_STALE_SECONDS``.
- Published but never completed (the embedded file broker drops a message a killed worker had taken; a
  Redis restart without persistence drops its queues): ``sweep()`` sends it again once nothing has been
  heard of it for ``OUTBOX_REDELIVER_SECONDS``. A task waiting for its retry touches ``seen_at`` on every
  attempt, so it is not re-sent while alive. After ``OUTBOX_MAX_ATTEMPTS`` publications the row is marked
  failed and shown on the queues page, where an admin can send it again.

A message may therefore be delivered more than once: every task is idempotent (takes ids, reloads,
checks state).

While the broker is unreachable, the after-commit relay of this process pauses for
``OUTBOX_BROKER_PAUSE_SECONDS`` after a failure, so buyers' requests do not each wait for a connection
timeout; the rows wait for the sweep. ``OUTBOX_DELIVERY=inline`` runs the task in-process with Celery's
own ``apply`` right after commit, for tests and tools that have no worker running.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta

import redis
from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy import inspect as sa_inspect

from config.celery import QUEUES
from shop.core.db import AFTER_COMMIT_HOOKS, after_commit, atomic, db, in_unit_of_work, utcnow
from shop.core.logging import current_request_id
from shop.core.models import OutboxMessage, PeriodicRun, TaskFailure, WorkerHeartbeat
from shop.core.redis_backoff import BackoffRedis

log = logging.getLogger(__name__)

_PAUSE_KEY = "shop.outbox.paused_until"
_RELAY_HOOK = "shop.outbox.relay_hook"


def enqueue(task: str, payload: dict, *, queue: str = "default") -> OutboxMessage:
    """Write a message for ``task`` in the current transaction; it is relayed after commit."""
    if not in_unit_of_work():
        raise RuntimeError("enqueue() must run inside atomic()")
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue}")
    msg = OutboxMessage(task=task, payload=payload, queue=queue, request_id=current_request_id())
    # Written with the unit of work's next flush, together with its other messages (one INSERT), and
    # relayed with them after commit without reading the rows again.
    db.session.add(msg)
    _relay_after_commit().messages.append((msg, task, payload, queue, msg.request_id))
    return msg


class _RelayAfterCommit:
    """The after-commit relay of every message one unit of work enqueued.

    It publishes from what was written: the ids come from the identity map and the rest from the
    messages themselves, so relaying costs no read of the rows (the commit expired them), only the
    marking of each as sent.
    """

    def __init__(self) -> None:
        # Each message with what publishing it needs, kept as enqueue() was given it.
        self.messages: list[tuple[OutboxMessage, str, dict, str, str | None]] = []

    def __call__(self) -> None:
        if _paused():
            return  # the broker failed moments ago: leave the rows to the sweep, answer the buyer now
        outgoing = []
        for msg, task, payload, queue, request_id in self.messages:
            key = sa_inspect(msg).identity  # the id without a SELECT: the commit expired the row
            if key:
                outgoing.append(_Outgoing(key[0], task, payload, queue, request_id))
        if outgoing:
            _deliver(outgoing)


def _relay_after_commit() -> _RelayAfterCommit:
    """The relay hook of the current unit of work, registered with its first message."""
    session = db.session()
    hook = session.info.get(_RELAY_HOOK)
    if hook is None or not any(h is hook for h in session.info.get(AFTER_COMMIT_HOOKS, ())):
        hook = _RelayAfterCommit()
        session.info[_RELAY_HOOK] = hook
        after_commit(hook)
    return hook


def _settings():
    return current_app.extensions["settings"]


@dataclass(frozen=True)
class _Outgoing:
    """What publishing a message needs, copied from its row before the relay's read transaction ends."""

    id: int
    task: str
    payload: dict
    queue: str
    request_id: str | None


def _publish(msg: _Outgoing) -> bool:
    """Send one message; return True when the task already ran (inline delivery)."""
    celery_app = current_app.extensions["celery"]
    headers = {"shop_request_id": msg.request_id or "-", "shop_outbox_id": msg.id}
    if _settings().OUTBOX_DELIVERY == "inline":
        result = celery_app.tasks[msg.task].apply(kwargs=msg.payload, headers=headers)
        if result.failed():
            raise RuntimeError(f"{msg.task} failed: {result.result!r}")
        return True
    celery_app.send_task(msg.task, kwargs=msg.payload, queue=msg.queue, headers=headers)
    return False


def _paused() -> bool:
    return current_app.extensions.get(_PAUSE_KEY, 0.0) > time.monotonic()


def relay(
    ids: list[int] | None = None,
    *,
    older_than_seconds: int | None = None,
    limit: int = 500,
) -> int:
    """Publish unsent messages (these ``ids``, or those older than the threshold); return how many."""
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.completed_at.is_(None),
            OutboxMessage.failed_at.is_(None),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    if older_than_seconds is not None:
        stmt = stmt.where(OutboxMessage.created_at <= utcnow() - timedelta(seconds=older_than_seconds))
    return _send(list(db.session.scalars(stmt)))


def _send(messages: list[OutboxMessage], *, forget_holder: bool = False) -> int:
    # End the read; each message is marked in its own small transaction. The rollback expires the rows,
    # so what publishing needs is copied first: reading each row again would cost a SELECT and a COMMIT
    # per message.
    outgoing = [_Outgoing(m.id, m.task, m.payload, m.queue, m.request_id) for m in messages]
    db.session.rollback()
    return _deliver(outgoing, forget_holder=forget_holder)


def _deliver(outgoing: list[_Outgoing], *, forget_holder: bool = False) -> int:
    sent: list[int] = []
    ran: list[int] = []
    for msg in outgoing:
        try:
            (ran if _publish(msg) else sent).append(msg.id)
        except Exception as exc:  # broker down, task failed inline: keep it for the sweep
            log.warning("outbox message %s (%s) not sent: %s", msg.id, msg.task, exc)
            if _settings().OUTBOX_DELIVERY == "celery":
                current_app.extensions[_PAUSE_KEY] = (
                    time.monotonic() + _settings().OUTBOX_BROKER_PAUSE_SECONDS
                )
            with atomic():
                db.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == msg.id)
                    .values(attempts=OutboxMessage.attempts + 1, last_error=str(exc)[:500])
                )
            continue
        current_app.extensions[_PAUSE_KEY] = 0.0
    if sent or ran:
        # Every message published here is marked in one transaction, not one each. A crash before it
        # leaves them unsent: the sweep sends them again, and their tasks are idempotent.
        now = utcnow()
        values = {"sent_at": now, "attempts": OutboxMessage.attempts + 1}
        if forget_holder:  # sent again: whoever held it before is no longer its holder
            values.update(seen_at=None, seen_by=None)
        with atomic():
            # Whatever the row's state: a fast worker may already have marked one completed, which stays.
            # A row a batch holds (``claim_waiting``) is skipped, not waited for: the batch completes it,
            # or else the sweep sends it again.
            for ids, extra in ((sent, {}), (ran, {"completed_at": now})):
                if ids:
                    db.session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(unlocked(ids)))
                        .values(**values, **extra)
                    )
    return len(sent) + len(ran)


def unlocked(ids: list[int]):
    """Those of these messages no transaction holds now, locked for an update (a subquery): writers of
    bookkeeping (the relay's sent mark, the heartbeat's record, a step's own completion) skip what a
    batch or a completing step holds, and so never wait inside a cycle of locks with them."""
    return (
        select(OutboxMessage.id)
        .where(OutboxMessage.id.in_(ids))
        .with_for_update(key_share=True, skip_locked=True)
    )


def redeliver(*, silent_for_seconds: int, limit: int = 500) -> int:
    """Send again messages published but not completed and not seen for ``silent_for_seconds``.

    A message published ``OUTBOX_MAX_ATTEMPTS`` times without completing is marked failed instead.
    """
    cutoff = utcnow() - timedelta(seconds=silent_for_seconds)
    silent = and_(
        OutboxMessage.sent_at.is_not(None),
        OutboxMessage.completed_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.sent_at <= cutoff,
        or_(OutboxMessage.seen_at.is_(None), OutboxMessage.seen_at <= cutoff),
    )
    max_attempts = _settings().OUTBOX_MAX_ATTEMPTS
    with atomic():
        db.session.execute(
            update(OutboxMessage)
            .where(silent, OutboxMessage.attempts >= max_attempts)
            .values(failed_at=utcnow(), last_error=f"not completed after {max_attempts} attempts")
        )
    messages = list(
        db.session.scalars(select(OutboxMessage).where(silent).order_by(OutboxMessage.id).limit(limit))
    )
    for msg in messages:
        log.warning("outbox message %s (%s) sent but never completed; sending it again", msg.id, msg.task)
    return _send(messages, forget_holder=True)


def redeliver_from_dead_workers(*, dead_after_seconds: float, limit: int = 500) -> int:
    """Send again, at once, messages a worker started and then stopped answering for.

    A message names the worker that last started it (``seen_by``); a worker whose heartbeat
    (``shop.core.heartbeat``) is older than ``dead_after_seconds``, or gone because it stopped, holds
    nothing any more: its running task died with it and Redis would hand the message out again only after
    the visibility timeout. A live worker's messages (running, or waiting for their retry) are left alone.
    """
    cutoff = utcnow() - timedelta(seconds=dead_after_seconds)
    alive = select(WorkerHeartbeat.hostname).where(WorkerHeartbeat.beat_at > cutoff)
    held_by_dead = and_(
        OutboxMessage.sent_at.is_not(None),
        OutboxMessage.completed_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.seen_by.is_not(None),
        OutboxMessage.seen_at <= cutoff,
        OutboxMessage.seen_by.not_in(alive),
    )
    messages = list(
        db.session.scalars(select(OutboxMessage).where(held_by_dead).order_by(OutboxMessage.id).limit(limit))
    )
    for msg in messages:
        log.warning(
            "outbox message %s (%s) was held by worker %s, whose heartbeat stopped; sending it again",
            msg.id,
            msg.task,
            msg.seen_by,
        )
    return _send(messages, forget_holder=True)


# The broker's own record that it still has everything the relay published: a key in the broker's Redis
# database, and a row in periodic_run saying the sweep wrote it. A Redis restarted without persistence
# (or flushed) has lost the key together with every queued message.
BROKER_MARKER = "shop.outbox.broker-marker"


def broker_lost_messages() -> bool:
    """Whether the broker lost its queues since the last sweep (Redis only; never raises)."""
    url = _settings().CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return False  # the file broker keeps its folder
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        present = bool(client.exists(BROKER_MARKER))
        client.set(BROKER_MARKER, utcnow().isoformat())
    except redis.RedisError:
        return False  # unreachable: nothing can be sent now anyway; the next sweep looks again
    with atomic():
        existed = db.session.get(PeriodicRun, BROKER_MARKER) is not None
        if not existed:
            db.session.add(PeriodicRun(name=BROKER_MARKER, last_run_at=utcnow(), runs=0))
        elif not present:
            db.session.execute(
                update(PeriodicRun)
                .where(PeriodicRun.name == BROKER_MARKER)
                .values(last_run_at=utcnow(), runs=PeriodicRun.runs + 1)
            )
    return existed and not present


def sweep() -> int:
    """Send what was not sent after its commit, and again what was sent but never completed (beat):
    at once when its worker died or the broker lost its queues, else after OUTBOX_REDELIVER_SECONDS."""
    settings = _settings()
    sent = relay(older_than_seconds=settings.OUTBOX_STALE_SECONDS)
    sent += redeliver_from_dead_workers(dead_after_seconds=settings.WORKER_DEAD_AFTER_SECONDS)
    if broker_lost_messages():
        log.warning(
            "the broker lost its queues (restarted without persistence?); sending every message again"
        )
        sent += redeliver(silent_for_seconds=0)
    return sent + redeliver(silent_for_seconds=settings.OUTBOX_REDELIVER_SECONDS)


def mark_seen(message_id: int, worker: str | None = None) -> None:
    """A worker started (or retries) the message's task: it is alive, do not re-send it yet. ``worker``
    (its Celery hostname) lets the sweep re-send the message at once if that worker dies."""
    with atomic():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.completed_at.is_(None))
            .values(seen_at=utcnow(), seen_by=(worker or None) and worker[:200])
        )


@dataclass
class Running:
    """The outbox message whose task runs in this process now (set by the task base class)."""

    id: int
    worker: str | None
    completed: bool = False  # its completion committed with the task's own transaction
    completing: bool = False  # its completion is written in the task's transaction, not committed yet


_running: contextvars.ContextVar[Running | None] = contextvars.ContextVar("shop_outbox_running", default=None)


@contextmanager
def running(message_id: int, worker: str | None = None) -> Iterator[Running]:
    """Run a task that was sent as outbox message ``message_id`` (the task base class wraps tasks in it)."""
    current = Running(message_id, worker)
    token = _running.set(current)
    try:
        yield current
    finally:
        _running.reset(token)


def complete_with_this_transaction() -> None:
    """Mark the running task's message seen and completed in the current unit of work.

    For a task whose work is one transaction: its completion then commits, or rolls back, with that work,
    so a crash between the two cannot leave work done and the message open (or the reverse), and the task
    base class writes neither ``mark_seen`` nor ``mark_completed`` in transactions of their own. Call it
    last in the block: the row stays locked only until the commit. Outside a task sent through the
    outbox (inline delivery, a test calling the step) it does nothing, and nothing more when the message
    is completed already or its completion is written in this transaction (``complete_claimed``).
    """
    current = _running.get()
    if current is None or current.completed or current.completing:
        return
    now = utcnow()
    # A batch of another task may hold the row (it took the message, then found the order locked by this
    # step): not waited for, since that batch may wait for rows this step holds. The task base class then
    # marks it completed after this commit, in a transaction of its own.
    done = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(unlocked([current.id])), OutboxMessage.completed_at.is_(None))
        .values(completed_at=now, seen_at=now, seen_by=(current.worker or None) and current.worker[:200])
    )
    if done.rowcount == 1:
        _completes_with_commit(current)


def _completes_with_commit(current: Running) -> None:
    current.completing = True

    def _committed() -> None:
        current.completed = True

    after_commit(_committed)


def running_message_open() -> bool | None:
    """Whether the running task's message is still open: False when it is completed already (a batch of
    another task did its work, or an earlier delivery committed), and then there is nothing to do and
    nothing to write for it. None outside a task sent through the outbox.

    A plain read, no lock: a task whose message a batch completed reads one row in a read-only
    transaction (no WAL to flush at its commit). Its completion is written at the end of the step without
    waiting for a batch that holds the row (``complete_with_this_transaction``).
    """
    current = _running.get()
    if current is None:
        return None
    done = db.session.execute(
        select(OutboxMessage.completed_at).where(OutboxMessage.id == current.id)
    ).first()
    if done is not None and done.completed_at is not None:
        current.completed = True  # committed by whoever completed it: the task base class writes nothing
        return False
    return True


def claim_waiting(task: str, limit: int) -> list[tuple[int, dict]]:
    """Lock up to ``limit`` other open messages of ``task`` for this transaction, newest first, skipping
    those another transaction holds: ``(id, payload)`` of each.

    For a task that does the work of several messages at once (fulfilment picks several paid orders in
    one transaction): it then completes those it did with ``complete_claimed``; the others are released
    at the end of the transaction, untouched. Newest first, so a batch does not take the messages the
    other workers are starting now (the oldest), which would make them wait for it.
    """
    current = _running.get()
    stmt = (
        select(OutboxMessage.id, OutboxMessage.payload)
        .where(
            OutboxMessage.task == task,
            OutboxMessage.completed_at.is_(None),
            OutboxMessage.failed_at.is_(None),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if current is not None:
        stmt = stmt.where(OutboxMessage.id != current.id)
    return [(row.id, row.payload) for row in db.session.execute(stmt)]


def complete_claimed(message_ids: list[int], *, with_running: bool = False) -> None:
    """Mark messages taken with ``claim_waiting`` completed in the current unit of work: their work is
    done and commits with it. Their own deliveries, when they arrive, find them completed and stop.
    ``with_running`` completes the running task's own message in the same statement, as
    ``complete_with_this_transaction`` would (not waiting for a batch that holds it)."""
    current = _running.get()
    own = with_running and current is not None and not current.completed and not current.completing
    if not message_ids and not own:
        return
    which = OutboxMessage.id.in_(list(message_ids))
    if own:
        which = or_(which, OutboxMessage.id.in_(unlocked([current.id])))
    worker = current.worker[:200] if current is not None and current.worker else None
    now = utcnow()
    done = db.session.execute(
        update(OutboxMessage)
        .where(which, OutboxMessage.completed_at.is_(None))
        .values(completed_at=now, seen_at=now, seen_by=worker)
        .returning(OutboxMessage.id, OutboxMessage.payload)
    ).all()
    if own and current.id in {row.id for row in done}:
        _completes_with_commit(current)
    _hint_after_commit([(row.id, row.payload) for row in done if current is None or row.id != current.id])


# -- completion hints: the deliveries of messages a batch completed stop without reading the database
#
# A batch completes the messages of the work it did, but those messages are in the broker already and
# each is still delivered to a worker, which would read its row to find it completed (a pool checkout, a
# transaction and a read each). So after the batch commits, it writes a short-lived key per message in
# Redis (``REDIS_URL``); a task declared ``taken_in_batches`` looks for its key first and stops when it
# is there. A key is written only after the commit that completed its message, and names the database,
# the message id and a digest of its payload, so it never speaks for another message. Without Redis, or
# with Redis failing or the key gone, the delivery reads its row as before: a hint only saves work.

HINT_SECONDS = 600
_HINT_KEY = "shop:outbox:done:{database}:{id}:{digest}"
_HINTS = "shop.outbox.hints"


@dataclass
class _Hints:
    redis: BackoffRedis
    database: str

    def key(self, message_id: int, payload: dict | None) -> str:
        body = json.dumps(payload or {}, sort_keys=True, separators=(",", ":"), default=str).encode()
        digest = hashlib.blake2s(body, digest_size=8).hexdigest()
        return _HINT_KEY.format(database=self.database, id=message_id, digest=digest)


def _hints() -> _Hints | None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    hints = app.extensions.get(_HINTS, False)
    if hints is False:
        url = app.extensions["settings"].REDIS_URL
        hints = app.extensions[_HINTS] = (
            _Hints(BackoffRedis(url), db.engine.url.database or "") if url else None
        )
    return hints


def _hint_after_commit(done: list[tuple[int, dict]]) -> None:
    hints = _hints() if done else None
    if hints is None:
        return

    def _write() -> None:
        client = hints.redis.client()
        if client is None:
            return
        try:
            pipe = client.pipeline(transaction=False)
            for message_id, payload in done:
                pipe.set(hints.key(message_id, payload), 1, ex=HINT_SECONDS)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("outbox completion hints not written: %s", exc)
            hints.redis.failed()

    after_commit(_write)


def completed_in_batch(message_id: int, payload: dict | None) -> bool:
    """Whether a batch's hint says message ``message_id`` (with this payload) is completed. Never raises:
    False when there is no hint, no Redis, or Redis fails."""
    hints = _hints()
    client = hints.redis.client() if hints is not None else None
    if client is None:
        return False
    try:
        return bool(client.exists(hints.key(message_id, payload)))
    except redis.RedisError as exc:
        log.warning("outbox completion hint not read: %s", exc)
        hints.redis.failed()
        return False


def mark_completed(message_id: int) -> None:
    """The message's task finished: the sweep never sends it again."""
    with atomic():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.completed_at.is_(None))
            .values(completed_at=utcnow())
        )


def record_failure(
    *, task: str, task_id: str, kwargs: dict, error: str, traceback: str, outbox_id: int | None
) -> None:
    """Keep a task that gave up, for the queues page; note the error on its outbox row."""
    with atomic():
        db.session.add(
            TaskFailure(
                task=task[:120],
                task_id=task_id[:64],
                kwargs=kwargs,
                error=error[:1000],
                traceback=traceback[-8000:],
                outbox_id=outbox_id,
            )
        )
        if outbox_id:
            db.session.execute(
                update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(last_error=error[:500])
            )


def requeue(message_id: int) -> bool:
    """Give a failed (or stuck) message a fresh start: the next relay or sweep sends it again."""
    with atomic():
        res = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.completed_at.is_(None))
            .values(failed_at=None, sent_at=None, seen_at=None, attempts=0, last_error="")
        )
        if res.rowcount == 1:
            after_commit(lambda: relay([message_id]))
        return res.rowcount == 1


def purge(*, older_than_days: int) -> int:
    """Delete completed messages and failure records older than ``older_than_days``; return how many."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    with atomic():
        n = db.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.completed_at.is_not(None), OutboxMessage.completed_at < cutoff
            )
        ).rowcount
        n += db.session.execute(delete(TaskFailure).where(TaskFailure.at < cutoff)).rowcount
    return n


def pending_count() -> int:
    """Messages written but not published yet (the broker was down, or the relay is paused)."""
    return (
        db.session.scalar(
            select(func.count()).where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.completed_at.is_(None),
                OutboxMessage.failed_at.is_(None),
            )
        )
        or 0
    )


@dataclass(frozen=True)
class OutboxStats:
    unsent: int  # written, not yet published
    in_flight: int  # published, not completed
    failed: int  # given up after OUTBOX_MAX_ATTEMPTS
    oldest_unsent_seconds: float


def stats() -> OutboxStats:
    """Counts for the queues page and metrics."""
    open_ = OutboxMessage.completed_at.is_(None)
    live = OutboxMessage.failed_at.is_(None)
    unsent = db.session.scalar(select(func.count()).where(open_, live, OutboxMessage.sent_at.is_(None)))
    in_flight = db.session.scalar(select(func.count()).where(open_, live, OutboxMessage.sent_at.is_not(None)))
    failed = db.session.scalar(select(func.count()).where(open_, OutboxMessage.failed_at.is_not(None)))
    oldest = db.session.scalar(
        select(func.min(OutboxMessage.created_at)).where(open_, live, OutboxMessage.sent_at.is_(None))
    )
    age = 0.0
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max(0.0, (utcnow() - oldest).total_seconds())
    return OutboxStats(unsent or 0, in_flight or 0, failed or 0, age)


# kombu's Redis transport keeps priorities 3, 6, 9 of queue "q" in lists "q\x06\x163" etc.
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue, read from the broker; None when it cannot be reached."""
    settings = _settings()
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            pipe = client.pipeline()
            for q in QUEUES:
                for suffix in _REDIS_PRIORITY_SUFFIXES:
                    pipe.llen(q + suffix)
            pipe.hlen("unacked")
            counts = pipe.execute()
        except redis.RedisError:
            return None
        per = len(_REDIS_PRIORITY_SUFFIXES)
        out = {q: sum(counts[i * per : (i + 1) * per]) for i, q in enumerate(QUEUES)}
        out["unacked"] = counts[-1]  # taken by a worker, not yet acknowledged
        return out
    if url.startswith("filesystem://"):
        folder = settings.broker_folder / "out"
        try:
            names = [p.name for p in folder.iterdir()]
        except OSError:
            return None
        return {q: sum(1 for n in names if n.endswith(f".{q}.msg")) for q in QUEUES}
    return None
