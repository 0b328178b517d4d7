"""Cross-domain tables: the transactional outbox and idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow


class OutboxMessage(db.Model):
    """A Celery task to send, written in the same transaction as the state change that needs it."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict] = mapped_column(JSON)
    queue: Mapped[str] = mapped_column(String(40), default="default")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # The web request that caused it, so the task's logs can be joined to the request's.
    request_id: Mapped[str] = mapped_column(String(64), default="")


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
