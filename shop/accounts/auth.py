"""Request authentication: bearer tokens for the API, Flask-Login sessions for the pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request
from flask_login import current_user

from shop.accounts import livecache, sessions
from shop.accounts.errors import LocationNotGranted, RoleRequired
from shop.accounts.models import User
from shop.accounts.services import TokenClaims, live_user, read_token
from shop.catalog.models import Location
from shop.core import idempotency
from shop.core.errors import Unauthorized
from shop.core.web import login_manager

_CACHE_KEY = "shop.api_user"
login_manager.login_view = "accounts.login"
login_manager.user_loader(sessions.load)


def _bearer() -> tuple[User, TokenClaims] | None:
    # Cached per request (not on ``g``, which can outlive a request when an app context is reused).
    if _CACHE_KEY not in request.environ:
        header = request.headers.get("Authorization", "")
        found = None
        if header[:7].lower() == "bearer ":
            claims = read_token(header[7:].strip())
            user = (
                livecache.live_user(claims.user_id, claims.version, claims.jti, read=live_user)
                if claims
                else None
            )
            found = (user, claims) if user is not None else None
        request.environ[_CACHE_KEY] = found
    return request.environ[_CACHE_KEY]


def api_user(*, required: bool = True) -> User | None:
    """Return the user of the bearer token on this request (raise 401 when required and absent)."""
    found = _bearer()
    if found is None and required:
        raise Unauthorized("a valid bearer token is required")
    return found[0] if found else None


def api_token() -> TokenClaims:
    """The claims of this request's valid bearer token (401 without one)."""
    found = _bearer()
    if found is None:
        raise Unauthorized("a valid bearer token is required")
    return found[1]


@idempotency.scope_by
def _idempotency_scope() -> str:
    """Idempotency keys are kept per API user (anonymous callers share one scope)."""
    user = api_user(required=False)
    return f"user:{user.id}" if user else "anon"


def require_role(*roles: str) -> Callable:
    """API decorator: a bearer token whose user has one of ``roles`` (any signed-in user if none)."""

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            user = api_user()
            if roles and user.role not in roles:
                raise RoleRequired(f"requires role {' or '.join(roles)}")
            return fn(*args, **kwargs)

        wrapper._shop_roles = roles  # type: ignore[attr-defined]
        return wrapper

    return decorator


def require_staff_page(*roles: str) -> Callable:
    """Page decorator: a signed-in staff user with one of ``roles``."""

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                raise RoleRequired("this page is for staff")
            return fn(*args, **kwargs)

        # Read by the landing after sign-in, which never sends a person to a page they cannot open.
        wrapper._shop_page_roles = roles  # type: ignore[attr-defined]
        return wrapper

    return decorator


def ensure_location_access(user: User, location: Location) -> None:
    """Raise 403 unless ``user`` may act at ``location``."""
    if not user.can_act_at(location):
        raise LocationNotGranted(f"you are not an operator of {location.code}")
