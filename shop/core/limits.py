"""Rate limits (Flask-Limiter) on the endpoints abuse targets: sign-in, registration, tokens, password
links, orders, the payment webhook. Keyed by client IP (behind a proxy, set PROXY_FIX_X_FOR so the real IP
is used); reset mails also per email address. These stop floods: a whole office behind one address may
sign in at once, so wrong passwords are slowed by the accounts domain's failure budgets instead.

Storage is Redis when REDIS_URL is set, so limits hold across web processes; when Redis is unreachable
Flask-Limiter falls back to per-process memory (still limiting, less exactly) instead of failing open or
answering 500. Exceeding a limit is a 429 problem+json with Retry-After.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)

limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def _limits_switched_off() -> bool:
    """Exempt every request of an app whose settings turn limits off (read per app, not globally)."""
    return not current_app.extensions["settings"].RATELIMIT_ENABLED


def _setting(name: str):
    return lambda: current_app.extensions["settings"].model_dump()[name]


def _email_in_request() -> str:
    """The email address a request names (JSON body or form), hashed: the key of per-address limits."""
    data = request.get_json(silent=True) if request.is_json else None
    email = data.get("email") if isinstance(data, dict) else request.form.get("email")
    raw = str(email or "").strip().lower().encode("utf-8", "surrogatepass")
    return "email:" + hashlib.sha256(raw).hexdigest()[:32]


_POSTS = ["POST"]  # showing a form is not an attempt
# The sign-in page and the token endpoint share one budget per address.
limit_auth = limiter.shared_limit(_setting("RATE_LIMIT_AUTH"), scope="sign-in", methods=_POSTS)
limit_register = limiter.shared_limit(_setting("RATE_LIMIT_REGISTER"), scope="register", methods=_POSTS)
limit_password_reset = limiter.shared_limit(
    _setting("RATE_LIMIT_PASSWORD_RESET"), scope="password-links", methods=_POSTS
)
limit_password_reset_email = limiter.shared_limit(
    _setting("RATE_LIMIT_PASSWORD_RESET_EMAIL"),
    scope="password-link-mails",
    key_func=_email_in_request,
    methods=_POSTS,
)
limit_orders = limiter.limit(_setting("RATE_LIMIT_ORDERS"))
limit_webhook = limiter.limit(_setting("RATE_LIMIT_WEBHOOK"))


class FailureThrottle:
    """Counts failed attempts per key and refuses further attempts once a limit is reached.

    For guesses that a request-rate limit cannot see, because the endpoint also serves legitimate
    repeated use: a hall operator types many pickup codes a day, and only the wrong ones should count.
    Uses the ``limits`` library (Flask-Limiter's own engine) on the same storage as the rate limits;
    when Redis does not answer it counts in process memory instead, as the rate limits do.
    """

    BACKOFF_SECONDS = 15

    def __init__(self, name: str, limit: str, storage_uri: str, options: dict | None = None):
        self.name = name
        self.items = parse_many(limit)
        self._primary = FixedWindowRateLimiter(storage_from_string(storage_uri, **(options or {})))
        self._fallback = FixedWindowRateLimiter(MemoryStorage())
        self._primary_down_until = 0.0

    def _run(self, fn):
        if time.monotonic() >= self._primary_down_until:
            try:
                return fn(self._primary)
            except Exception:  # storage unreachable: keep counting, per process
                # Leave it alone for a while, so an outage does not add a connect timeout to every try.
                self._primary_down_until = time.monotonic() + self.BACKOFF_SECONDS
                log.warning(
                    "%s: limit storage unreachable, counting in memory for %d s",
                    self.name,
                    self.BACKOFF_SECONDS,
                )
        return fn(self._fallback)

    def retry_after(self, *key: str) -> int:
        """Seconds until another attempt is allowed for ``key`` (0: allowed now)."""

        def check(strategy) -> int:
            wait = 0
            for item in self.items:
                if not strategy.test(item, self.name, *key):
                    reset = strategy.get_window_stats(item, self.name, *key).reset_time
                    wait = max(wait, int(reset - time.time()) + 1)
            return wait

        return self._run(check)

    def failed(self, *key: str) -> None:
        self._run(lambda strategy: [strategy.hit(item, self.name, *key) for item in self.items])


def failure_throttle(name: str, setting: str) -> FailureThrottle | None:
    """The app's throttle ``name`` limited by the setting ``setting`` (None when limits are off)."""
    settings = current_app.extensions["settings"]
    if not settings.RATELIMIT_ENABLED:
        return None
    throttles = current_app.extensions.setdefault("failure_throttles", {})
    if name not in throttles:
        cfg = current_app.config
        throttles[name] = FailureThrottle(
            name,
            getattr(settings, setting),
            cfg["RATELIMIT_STORAGE_URI"],
            cfg.get("RATELIMIT_STORAGE_OPTIONS"),
        )
    return throttles[name]
