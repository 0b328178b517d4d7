"""Rate limits (Flask-Limiter) on the endpoints abuse targets: sign-in, registration, tokens, orders,
the payment webhook. Keyed by client IP (behind a proxy, set PROXY_FIX_X_FOR so the real IP is used).

Storage is Redis when REDIS_URL is set, so limits hold across web processes; when Redis is unreachable
Flask-Limiter falls back to per-process memory (still limiting, less exactly) instead of failing open or
answering 500. Exceeding a limit is a 429 problem+json with Retry-After.
"""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def _limits_switched_off() -> bool:
    """Exempt every request of an app whose settings turn limits off (read per app, not globally)."""
    return not current_app.extensions["settings"].RATELIMIT_ENABLED


def _setting(name: str):
    return lambda: current_app.extensions["settings"].model_dump()[name]


limit_auth = limiter.limit(_setting("RATE_LIMIT_AUTH"))
limit_orders = limiter.limit(_setting("RATE_LIMIT_ORDERS"))
limit_webhook = limiter.limit(_setting("RATE_LIMIT_WEBHOOK"))
