from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow


class Notification(db.Model):
    """A message to a person, written in the transaction that caused it and delivered by a task.

    ``dedupe_key`` (unique) makes "tell the buyer order X is ready" happen once, however often the
    causing step is retried.
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_notification_user", "user_id", "created_at"),
        Index("ix_notification_location", "location_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))  # staff alerts for a hall
    email: Mapped[str] = mapped_column(String(254), default="")
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, sent, stored, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
