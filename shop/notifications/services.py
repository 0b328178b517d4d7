"""Queue notifications in a unit of work; deliver them from a task through the configured sender."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.core.db import atomic, db, utcnow
from shop.core.outbox import enqueue
from shop.notifications.models import Notification

log = logging.getLogger(__name__)


def notify(
    *,
    dedupe_key: str,
    kind: str,
    subject: str,
    body: str,
    user=None,
    location_id: int | None = None,
    email: str = "",
) -> Notification:
    """Queue a notification in the current unit of work (once per ``dedupe_key``); a task sends it.

    One ``INSERT .. ON CONFLICT (dedupe_key) DO NOTHING RETURNING``: a notification told before (or
    by a concurrent unit of work, which this one waits for) is looked up only then."""
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Notification)
        .values(
            dedupe_key=dedupe_key,
            user_id=getattr(user, "id", None),
            location_id=location_id,
            email=email or getattr(user, "email", "") or "",
            kind=kind,
            subject=subject[:200],
            body=body,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification)
    )
    note = db.session.scalars(stmt).first()
    if note is None:
        return db.session.scalars(select(Notification).where(Notification.dedupe_key == dedupe_key)).one()
    enqueue("shop.notifications.send", {"notification_id": note.id}, queue="default")
    return note


def notify_many(notes: list[dict]) -> int:
    """``notify`` for several notifications at once (a fulfilment batch telling each buyer): one INSERT
    for all of them, and their sending tasks written together at the next flush. Each dict holds
    ``notify``'s arguments; those whose ``dedupe_key`` was told before are left out. One sending task
    delivers them in turn (a retry skips those already sent). Return how many were queued."""
    if not notes:
        return 0
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "dedupe_key": n["dedupe_key"],
            "user_id": getattr(n.get("user"), "id", None),
            "location_id": n.get("location_id"),
            "email": n.get("email") or getattr(n.get("user"), "email", "") or "",
            "kind": n["kind"],
            "subject": n["subject"][:200],
            "body": n["body"],
            "status": "pending",
            "attempts": 0,
            "created_at": utcnow(),
        }
        for n in notes
    ]
    ids = db.session.scalars(
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)
    ).all()
    if ids:  # one sending task for all of them: a batch's notices cost one message, not one each
        enqueue("shop.notifications.send", {"notification_ids": sorted(ids)}, queue="default")
    return len(ids)


class StoreSender:
    """Embedded default: keep the message in the database; staff and buyers read it in the app."""

    status = "stored"

    def send(self, note: Notification) -> None:
        log.info("notification %s stored for %s: %s", note.id, note.email or note.location_id, note.subject)


class SmtpSender:
    """Production: send as email over SMTP (SMTP_URL like smtp://user:pass@host:587?from=shop@example.cn)."""

    status = "sent"

    def __init__(self, url: str):
        self.url = urlsplit(url)

    def send(self, note: Notification) -> None:
        if not note.email:
            return
        msg = EmailMessage()
        query = dict(p.split("=", 1) for p in self.url.query.split("&") if "=" in p)
        msg["From"] = query.get("from", "noreply@gangu-shop.local")
        msg["To"] = note.email
        msg["Subject"] = note.subject
        msg.set_content(note.body)
        with smtplib.SMTP(self.url.hostname or "localhost", self.url.port or 25, timeout=10) as smtp:
            if self.url.scheme == "smtp+starttls":
                smtp.starttls()
            if self.url.username:
                smtp.login(self.url.username, self.url.password or "")
            smtp.send_message(msg)


def sender():
    settings = current_app.extensions["settings"]
    if settings.NOTIFY_SENDER == "smtp":
        return SmtpSender(settings.SMTP_URL)
    return StoreSender()


def deliver(notification_id: int) -> str:
    """Send one notification if it has not been sent yet; safe to run twice."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.status in ("sent", "stored"):
        return note.status if note else "missing"
    impl = sender()
    try:
        impl.send(note)
    except Exception:
        with atomic():
            db.session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(attempts=Notification.attempts + 1)
            )
        raise
    with atomic():
        db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == "pending")
            .values(status=impl.status, sent_at=utcnow(), attempts=Notification.attempts + 1)
        )
    return impl.status


def for_user(user_id: int, *, limit: int = 50) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def for_locations(location_ids: list[int], *, limit: int = 50) -> list[Notification]:
    if not location_ids:
        return []
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.location_id.in_(location_ids))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )
