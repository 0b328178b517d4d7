"""Signing in through the pages, and reading the links the shop emails."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import select

from shop.core.db import db
from shop.notifications.models import Notification

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LINK = re.compile(r"/password/set\?token=([A-Za-z0-9_\-]+)")


def csrf(client, path: str = "/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def web_login(client, email: str, password: str = "password-123", *, next: str | None = None, **kw):
    """POST the sign-in form (``kw`` goes to the request, e.g. ``environ_base``)."""
    data = {"csrf_token": csrf(client), "email": email, "password": password}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data, **kw)


def web_post(client, path: str, data: dict | None = None, **kw):
    """POST a page form with a CSRF token taken from the home page."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True))
    token = token.group(1) if token else csrf(client, "/login")
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kw)


@contextmanager
def inline_tasks(app):
    """Run outbox tasks in-process right after commit (no worker in these tests)."""
    settings = app.extensions["settings"]
    before = settings.OUTBOX_DELIVERY
    settings.OUTBOX_DELIVERY = "inline"
    try:
        yield
    finally:
        settings.OUTBOX_DELIVERY = before


def mails_to(email: str) -> list[Notification]:
    db.session.rollback()
    return list(
        db.session.scalars(select(Notification).where(Notification.email == email).order_by(Notification.id))
    )


def last_link_token(email: str) -> str:
    """The token of the newest password link mailed to ``email``."""
    for note in reversed(mails_to(email)):
        found = LINK.search(note.body)
        if found:
            return found.group(1)
    raise AssertionError(f"no password link was mailed to {email}")
