"""The cached headline figure for the storefront banner and the public progress page.

Every storefront page shows the programme's progress, so the figure is cached: in Redis when
``REDIS_URL`` is set (shared by every web process), otherwise in a small in-process cache. It is never
badly stale: values live ``REDIS_TTL`` / ``LOCAL_TTL`` seconds at most, and every commit that writes aid
entries deletes the figures of the programmes it touched. A cache problem never breaks a page: when Redis
fails, the figure is computed from the rollups (a cheap query) and Redis is left alone for a while
(``shop.core.redis_backoff``), so a dead server does not add a connect timeout to every page view.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app

from shop.core.redis_backoff import BackoffRedis

log = logging.getLogger(__name__)

HEADLINE_KEY = "shop:aid:headline"
PROGRESS_KEY = "shop:aid:progress:{id}"
REDIS_TTL = 30
LOCAL_TTL = 10


class _State:
    def __init__(self, url: str) -> None:
        self.redis = BackoffRedis(url)
        self.local: dict[str, tuple[float, Any]] = {}
        self.lock = threading.Lock()


def _state() -> _State:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get("aid_cache")
    if state is None:
        state = app.extensions["aid_cache"] = _State(app.extensions["settings"].REDIS_URL)
    return state


def _redis_failed(state: _State, exc: Exception) -> None:
    log.warning("aid headline cache: Redis unavailable (%s); using the in-process cache", exc)
    state.redis.failed()


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """Return the cached JSON-able value for ``key``, computing and storing it when missing."""
    state = _state()
    client = state.redis.client()
    if client is not None:
        try:
            raw = client.get(key)
        except Exception as exc:  # any Redis failure: fall back, never fail the page
            _redis_failed(state, exc)
            client = None
        else:
            if raw is not None:
                return json.loads(raw)
    if client is None:
        with state.lock:
            hit = state.local.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    value = compute()
    if client is not None:
        try:
            client.set(key, json.dumps(value), ex=REDIS_TTL)
        except Exception as exc:
            _redis_failed(state, exc)
    else:
        with state.lock:
            state.local[key] = (time.monotonic() + LOCAL_TTL, value)
    return value


def invalidate(keys: Iterable[str]) -> None:
    """Delete ``keys`` from the caches (best effort: a Redis failure only shortens nothing)."""
    keys = list(keys)
    if not keys:
        return
    state = _state()
    with state.lock:
        for key in keys:
            state.local.pop(key, None)
    client = state.redis.client()
    if client is not None:
        try:
            client.delete(*keys)
        except Exception as exc:
            _redis_failed(state, exc)


def invalidate_progress(programme_ids: Iterable[int]) -> None:
    """Forget the banner and the public progress figures of these programmes."""
    invalidate([HEADLINE_KEY, *(PROGRESS_KEY.format(id=i) for i in programme_ids)])
