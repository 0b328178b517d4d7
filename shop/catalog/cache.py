"""A short-lived per-process cache of public catalogue API answers (CATALOGUE_CACHE_SECONDS).

The product list and detail are the busiest anonymous reads and change rarely; for a second or two the
same URL in the same language gets the same bytes without touching the database. Availability shown
may be that stale; placing an order still reserves with a conditional UPDATE, so nothing oversells.
Only anonymous GETs answered 200 are kept; a request with credentials always goes through.
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
_entries: OrderedDict[tuple[str, str], tuple[float, bytes, int, list[tuple[str, str]]]] = OrderedDict()


def clear() -> None:
    with _lock:
        _entries.clear()


def cached_public(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a public GET view (place it right under ``@blp.route``)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        ttl = current_app.extensions["settings"].CATALOGUE_CACHE_SECONDS
        if not ttl or request.method != "GET" or "Authorization" in request.headers:
            return fn(*args, **kwargs)
        key = (request.full_path, str(get_locale() or ""))
        now = time.monotonic()
        with _lock:
            hit = _entries.get(key)
        if hit is not None and hit[0] > now:
            return Response(hit[1], status=hit[2], headers=hit[3])
        resp = make_response(fn(*args, **kwargs))
        if resp.status_code == 200 and not resp.direct_passthrough:
            headers = [
                (k, v) for k, v in resp.headers.items() if k.lower() not in ("set-cookie", "content-length")
            ]
            with _lock:
                _entries[key] = (now + ttl, resp.get_data(), resp.status_code, headers)
                _entries.move_to_end(key)
                while len(_entries) > MAX_ENTRIES:
                    _entries.popitem(last=False)
        return resp

    return wrapper
