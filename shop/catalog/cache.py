"""A short-lived per-process cache of public catalogue answers (CATALOGUE_CACHE_SECONDS).

The product list and detail are the busiest anonymous reads and change rarely; for a second or two the
same URL in the same language gets the same bytes without touching the database. Availability shown
may be that stale; placing an order still reserves with a conditional UPDATE, so nothing oversells.
Only anonymous GETs are served from it: a request with an Authorization header or any cookie (a session:
a signed-in user, a cart, flashed messages) always goes through, and only 200 answers that set no cookie
are kept. The catalogue pages render no CSRF token and no user data for such a visitor, so one copy fits
every anonymous visitor of the same URL in the same language.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, make_response, request
from flask_babel import get_locale

MAX_ENTRIES = 512

_lock = threading.Lock()
_renewing: set[tuple[str, str]] = set()
_entries: OrderedDict[tuple[str, str], tuple[float, bytes, int, list[tuple[str, str]]]] = OrderedDict()


_also: list[Callable[[], None]] = []


def also_clear(hook: Callable[[], None]) -> None:
    """Run ``hook`` whenever this cache is cleared (other per-process copies of the catalogue)."""
    _also.append(hook)


def clear() -> None:
    with _lock:
        _entries.clear()
        _renewing.clear()
    for hook in _also:
        hook()


def cached_public(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a public GET view (place it right under ``@blp.route`` / ``@bp.get``)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        ttl = current_app.extensions["settings"].CATALOGUE_CACHE_SECONDS
        if (
            not ttl
            or request.method != "GET"
            or "Authorization" in request.headers
            or "Cookie" in request.headers
        ):
            return fn(*args, **kwargs)
        key = (request.full_path, str(get_locale() or ""))
        now = time.monotonic()
        with _lock:
            hit = _entries.get(key)
            # When an answer expires one request renews it; the others keep getting the old one
            # meanwhile (at most one renewal's time older), so expiry never turns into a burst of misses.
            renew = hit is None or (hit[0] <= now and key not in _renewing)
            if renew:
                _renewing.add(key)
        if not renew:
            return Response(hit[1], status=hit[2], headers=hit[3])
        try:
            resp = make_response(fn(*args, **kwargs))
            if resp.status_code == 200 and not resp.direct_passthrough and "Set-Cookie" not in resp.headers:
                headers = [
                    (k, v)
                    for k, v in resp.headers.items()
                    if k.lower() not in ("set-cookie", "content-length")
                ]
                with _lock:
                    _entries[key] = (time.monotonic() + ttl, resp.get_data(), resp.status_code, headers)
                    _entries.move_to_end(key)
                    while len(_entries) > MAX_ENTRIES:
                        _entries.popitem(last=False)
        finally:
            with _lock:
                _renewing.discard(key)
        return resp

    return wrapper
