"""Web sign-in sessions that end: versioned like bearer tokens, with an id that logout revokes.

The session cookie is signed, not stored, so a copy of it would work for as long as the signature is
accepted unless the server can tell it apart. A sign-in therefore records in the session:

- the account's token version (``User.get_id`` gives ``"<id>:<version>"``): a password change or reset, a
  role change or a deactivation bumps the version and every session of the account is refused;
- a random session id: logging out revokes that id (``revoked_token``), so a copy of the cookie made
  before logout is refused while the person's other devices stay signed in;
- when it began: a session is refused ``WEB_SESSION_TTL_SECONDS`` after sign-in at the latest, however
  often the cookie was re-signed since, which is also how long a revoked id must be remembered.

A refused session is forgotten (its keys leave the cookie), so it cannot be re-signed and outlive its
revocation.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app, session
from flask_login import current_user, login_user, logout_user

from shop.accounts.models import User
from shop.accounts.services import live_user, revoke
from shop.audit.services import record
from shop.core import clock

SID = "_sid"
SID_BEGAN = "_sid_at"
_FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")


def _ttl() -> int:
    return current_app.extensions["settings"].WEB_SESSION_TTL_SECONDS


def begin(user: User) -> bool:
    """Sign ``user`` in on this browser (False for a deactivated account)."""
    forget()
    if not login_user(user):
        return False
    session[SID] = secrets.token_urlsafe(16)
    session[SID_BEGAN] = int(clock.now().timestamp())
    return True


def end() -> None:
    """Sign out this browser: its session id is refused from now on, on every copy of the cookie."""
    sid, began = session.get(SID), session.get(SID_BEGAN)
    if current_user.is_authenticated and isinstance(sid, str) and isinstance(began, int):
        ends = datetime.fromtimestamp(began, UTC) + timedelta(seconds=_ttl())
        revoke(sid, user_id=current_user.id, expires_at=ends)
        record(current_user, "user.logout", target_type="user", target_id=current_user.id, via="web")
    logout_user()
    forget()


def forget() -> None:
    """Drop every sign-in key from the session (keeping the cart and the language)."""
    for key in (*_FLASK_LOGIN_KEYS, SID, SID_BEGAN):
        session.pop(key, None)


def load(value: str) -> User | None:
    """The user of this session if it is still good (Flask-Login's user loader); else forget it."""
    user = _check(value)
    if user is None:
        forget()
    return user


def _check(value: str) -> User | None:
    user_id, _, version = value.partition(":")
    sid, began = session.get(SID), session.get(SID_BEGAN)
    if not (user_id.isdigit() and version.isdigit() and isinstance(sid, str) and isinstance(began, int)):
        return None  # not made by ``begin`` (or before sessions carried versions): sign in again
    age = clock.now().timestamp() - began
    if not -60 <= age < _ttl() or len(user_id) > 10:  # a minute's grace for clocks of other machines
        return None
    return live_user(int(user_id), int(version), sid)
