"""Record and query staff actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from shop.audit.models import AuditEvent
from shop.core.api import page_of
from shop.core.db import db
from shop.core.logging import current_request_id

SENSITIVE = ("password", "token", "secret", "card", "cvc")


def _scrub(details: dict) -> dict:
    """Never store secrets in the audit log."""
    return {k: ("[redacted]" if any(s in k.lower() for s in SENSITIVE) else v) for k, v in details.items()}


def record(actor, action: str, *, target_type: str, target_id: object, **details: object) -> AuditEvent:
    """Append an audit event in the current unit of work (``actor`` is a User or None for the system)."""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_email=getattr(actor, "email", "") or "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=_scrub(details),
        request_id=current_request_id(),
    )
    db.session.add(event)
    db.session.flush()
    return event


def list_events(
    *,
    page: int = 1,
    per_page: int = 50,
    action: str | None = None,
    actor_id: int | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
):
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action and action.endswith("."):  # "user." lists every user.* action
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    elif action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if target_type:
        stmt = stmt.where(AuditEvent.target_type == target_type)
    if since:
        stmt = stmt.where(AuditEvent.created_at >= since)
    return page_of(stmt, page=page, per_page=per_page)
