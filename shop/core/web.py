"""Page plumbing shared by every domain's views: i18n, login sessions, CSRF, template helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request, session
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from shop.core import clock

LOCALES = ("zh", "en")
# (endpoint, label, roles allowed or () for everyone); links show only once their domain is registered.
NAV_LINKS: list[tuple[str, object, tuple[str, ...]]] = [
    ("orders_web.cart", _l("Cart"), ()),
    ("orders_web.my_orders", _l("My orders"), ("customer", "operator", "aid_officer", "admin")),
    ("console.index", _l("Hall console"), ("operator", "admin")),
    ("orders_web.staff_orders", _l("Orders"), ("operator", "admin")),
    ("returns_web.staff_requests", _l("Refund requests"), ("operator", "admin")),
    ("fulfilment_web.index", _l("Fulfilment"), ("operator", "admin")),
    ("fulfilment_web.queues", _l("Queues"), ("admin",)),
    ("aid_web.dashboard", _l("Aid dashboard"), ("aid_officer", "admin")),
    ("workunits_web.staff_units", _l("Work units"), ("aid_officer", "admin")),
    ("workunits_web.staff_invoices", _l("Invoices"), ("aid_officer", "admin")),
    ("aid_web.progress", _l("Programme progress"), ()),
    ("audit_web.audit_log", _l("Audit log"), ("admin",)),
    ("backoffice.home", _l("Back office"), ("admin", "aid_officer")),
    ("people_web.index", _l("People"), ("admin",)),
]
babel = Babel()
csrf = CSRFProtect()
# Web sessions; the accounts domain says how a session's user is loaded and where to sign in.
login_manager = LoginManager()


def select_locale() -> str:
    """``?lang=`` (remembered in the session), else the session, else Accept-Language, else Chinese."""
    lang = request.args.get("lang")
    if lang in LOCALES:
        session["lang"] = lang
        return lang
    if session.get("lang") in LOCALES:
        return session["lang"]
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"])
    if best and best.startswith("en"):
        return "en"
    return "zh"


def localized(obj: Any, field: str) -> str:
    """Return ``obj.<field>_en`` on English pages when set, else ``obj.<field>_zh``."""
    lang = str(get_locale() or "zh")
    if lang == "en":
        value = getattr(obj, f"{field}_en", None)
        if value:
            return value
    return getattr(obj, f"{field}_zh", None) or getattr(obj, field, "") or ""


def yuan(fen: int | None) -> str:
    """Format integer fen as yuan for display: 6800 -> '68.00'."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def localtime(moment: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time as people read it, in the shop's zone (``{{ sale.made_at|localtime('%H:%M') }}``).

    Takes a datetime (naive ones are UTC, as SQLite returns them) or an ISO 8601 string with its zone
    (what the API-shaped dicts carry); nothing gives "".
    """
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment) if moment else None
    return clock.format_local(moment, fmt)


def init_web(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def _csrf_for_pages():
        # API clients authenticate with bearer tokens, not cookies, so only pages need CSRF tokens.
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not request.path.startswith("/api/"):
            csrf.protect()

    @app.context_processor
    def _template_helpers():
        return {
            "t": localized,
            "lang": str(get_locale() or "zh"),
            "LOCALES": LOCALES,
            "nav_links": NAV_LINKS,
            "has_endpoint": lambda name: name in app.view_functions,
        }

    app.jinja_env.filters["yuan"] = yuan
    app.jinja_env.filters["localtime"] = localtime

    # Product images may come from a CDN or bucket (MEDIA_PUBLIC_BASE_URL): the one other image origin.
    media_base = urlsplit(app.extensions["settings"].MEDIA_PUBLIC_BASE_URL)
    media_origin = f" {media_base.scheme}://{media_base.netloc}" if media_base.netloc else ""
    csp = (
        f"default-src 'self'; img-src 'self' data:{media_origin}; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/api/"):
            resp.headers.setdefault("Content-Security-Policy", csp)
        return resp
