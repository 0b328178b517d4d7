"""Cross-domain tables: the transactional outbox and idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow


class OutboxMessage(db.Model):
    """A Celery task to send, written in the same transaction as the state change that needs it.

    Life: written -> sent (published) -> seen (a worker started it) -> completed; or failed after
    OUTBOX_MAX_ATTEMPTS publications without completing (see ``shop.core.outbox``).
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_unsent", "sent_at", "created_at"),
        Index("ix_outbox_open", "completed_at", "failed_at", "sent_at"),
        # The open messages of one task, oldest or newest first: what a batching task claims.
        Index(
            "ix_outbox_waiting",
            "task",
            "id",
            postgresql_where=text("completed_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("completed_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict] = mapped_column(JSON)
    queue: Mapped[str] = mapped_column(String(40), default="default")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Last time a worker started (or retried) its task: it is alive, the sweep leaves it alone.
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The worker (Celery hostname) that last started it: when that worker's heartbeat stops, the sweep
    # sends the message again without waiting OUTBOX_REDELIVER_SECONDS.
    seen_by: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # The web request that caused it, so the task's logs can be joined to the request's.
    request_id: Mapped[str] = mapped_column(String(64), default="")


class TaskFailure(db.Model):
    """A Celery task that gave up (no retries left, or an error that is not retried): shown on the
    queues page so someone looks at it."""

    __tablename__ = "task_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(120))
    task_id: Mapped[str] = mapped_column(String(64), default="")
    kwargs: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    traceback: Mapped[str] = mapped_column(Text, default="")
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class IdempotencyRecord(db.Model):
    """The first response to a create-style request, replayed for retries with the same key."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))  # user id, or "anon"
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PeriodicRun(db.Model):
    """When each periodic job last ran: the guard that makes a job run once per period, however many
    beat schedulers (or redeliveries) fire it."""

    __tablename__ = "periodic_run"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    runs: Mapped[int] = mapped_column(Integer, default=0)


class WorkerHeartbeat(db.Model):
    """A Celery worker's sign of life, written every WORKER_HEARTBEAT_SECONDS while it runs (its row is
    deleted when it stops cleanly). A worker silent for WORKER_DEAD_AFTER_SECONDS is dead: the messages
    it held are sent again (``shop.core.outbox.redeliver_from_dead_workers``)."""

    __tablename__ = "worker_heartbeat"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
