"""What a bearer token's check read, kept per web process while the account's generation is unchanged.

Checking a token means reading the account (active, token version, the token id not revoked): a query on
every API request. A web process keeps the result for ``AUTH_CACHE_SECONDS`` keyed by the token's user,
version and id, together with the account's *generation* read from Redis (``shop:auth:gen:<user id>``)
just before the account was read. A request reads the generation (one Redis GET) and uses the kept
account only while it is the same, so it stays revocable at once:

- every ORM change of an account row (password change or reset, role change, deactivation,
  logout-everywhere, profile fields) and every revoked token id (logout) marks the account, and the
  commit bumps its generation (after the commit: a reader that saw the old generation then read the row
  before that commit keeps a copy under the old generation, which the bump makes useless);
- when Redis cannot be reached the cache is not used (every request reads the account, as without it)
  and Redis is left alone for a while (``shop.core.redis_backoff``); a process that notices forgets all
  it kept. A bump lost to an outage is the only staleness left, bounded by ``AUTH_CACHE_SECONDS``.

The kept account is a detached copy; each request merges it into its own session without a query, so
the request gets an ordinary ``User`` (relationships such as ``locations`` load when asked for).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, make_transient_to_detached

from shop.accounts.models import User
from shop.core.db import db
from shop.core.redis_backoff import BackoffRedis

log = logging.getLogger(__name__)

GEN_KEY = "shop:auth:gen:{id}"
GEN_TTL = 7 * 24 * 3600  # a generation key outlives every copy made under it by far
MAX_ENTRIES = 10_000
_MARKED = "shop_auth_touched"
_UNAVAILABLE = object()


class _State:
    def __init__(self, url: str, ttl: float) -> None:
        self.redis = BackoffRedis(url)
        self.ttl = ttl
        # (user id, token version, token id) -> (generation, expires at (monotonic), detached User)
        self.entries: dict[tuple[int, int, str | None], tuple[bytes | None, float, User]] = {}
        self.lock = threading.Lock()


def _state() -> _State:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get("auth_cache")
    if state is None:
        settings = app.extensions["settings"]
        state = app.extensions["auth_cache"] = _State(settings.REDIS_URL, settings.AUTH_CACHE_SECONDS)
    return state


def _client(state: _State):
    return state.redis.client() if state.ttl else None


def _failed(state: _State, exc: Exception) -> None:
    log.warning("token check cache: Redis unavailable (%s); reading accounts from the database", exc)
    state.redis.failed()
    with state.lock:
        state.entries.clear()


def _generation(state: _State, user_id: int) -> Any:
    client = _client(state)
    if client is None:
        return _UNAVAILABLE
    try:
        return client.get(GEN_KEY.format(id=user_id))
    except Exception as exc:  # any Redis failure: read the account, never fail the request
        _failed(state, exc)
        return _UNAVAILABLE


def _snapshot(user: User) -> User:
    copy = User(**{attr.key: getattr(user, attr.key) for attr in User.__mapper__.column_attrs})
    make_transient_to_detached(copy)
    return copy


def live_user(
    user_id: int, version: int, jti: str | None, *, read: Callable[[int, int, str | None], User | None]
) -> User | None:
    """``read`` (``shop.accounts.services.live_user``), answered from this process's copy while good."""
    state = _state()
    gen = _generation(state, user_id)
    if gen is _UNAVAILABLE:
        return read(user_id, version, jti)
    key = (user_id, version, jti)
    hit = state.entries.get(key)
    if hit is not None and hit[0] == gen and hit[1] > time.monotonic():
        return db.session.merge(hit[2], load=False)
    user = read(user_id, version, jti)
    if user is not None:
        with state.lock:
            if len(state.entries) >= MAX_ENTRIES:
                state.entries.clear()
            state.entries[key] = (gen, time.monotonic() + state.ttl, _snapshot(user))
    return user


def touched(session: Session, user_id: int) -> None:
    """The account ``user_id`` changed in ``session``: bump its generation once that commits."""
    session.info.setdefault(_MARKED, set()).add(user_id)


def bump(user_ids: set[int]) -> None:
    """Make every process's copy of these accounts useless (best effort, see the module's docstring)."""
    if not has_app_context():
        return
    state = _state()
    with state.lock:
        for key in [k for k in state.entries if k[0] in user_ids]:
            state.entries.pop(key, None)
    client = _client(state)
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for uid in user_ids:
            pipe.incr(GEN_KEY.format(id=uid))
            pipe.expire(GEN_KEY.format(id=uid), GEN_TTL)
        pipe.execute()
    except Exception as exc:
        _failed(state, exc)


@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _user_row_changed(_mapper, connection, target: User) -> None:
    session = Session.object_session(target)
    if session is not None:
        touched(session, target.id)


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    marked = session.info.pop(_MARKED, None)
    if marked:
        bump(marked)


# Marks are not dropped on rollback: a rolled-back change then bumps at the session's next commit, which
# only costs the next request of that account one read (a savepoint's rollback must not drop the marks
# of what its transaction changed before it).
