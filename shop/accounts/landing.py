"""Where a person lands after signing in: the page their role works on, never a page they cannot open.

A ``next`` address (the page that sent them to sign in) wins when it is on this site and right for
them (``landing_url``); otherwise each role has its home:

- admin: the back-office home when the back office is installed, else the staff order list;
- aid officer: the aid dashboard;
- operator: their hall's console (the list of their halls when they have several);
- producer: the producer portal (``/producer/``);
- customer: where they came from, else the shop's home page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from shop.accounts.models import User

PRODUCER_PORTAL = "/producer/"
# Endpoints tried in order for an admin: the back office's home once it is registered, then staff orders.
ADMIN_HOMES = ("backoffice.home", "orders_web.staff_orders")


def safe_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, host, backslash or control character)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def page_roles(path: str) -> tuple[str, ...] | None:
    """The roles a page of this shop is for (``()``: any visitor), or None when no page is there."""
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(urlsplit(path).path, method="GET")
    except RequestRedirect as redirect:  # the same page under its canonical address (a trailing slash)
        return page_roles(urlsplit(redirect.new_url).path) if redirect.new_url != path else None
    except HTTPException:
        return None
    return tuple(getattr(current_app.view_functions.get(endpoint), "_shop_page_roles", ()))


def home_for(user: User) -> str:
    """The page ``user``'s role works on."""
    views = current_app.view_functions
    if user.role == "admin":
        for endpoint in ADMIN_HOMES:
            if endpoint in views:
                return url_for(endpoint)
    if user.role == "aid_officer" and "aid_web.dashboard" in views:
        return url_for("aid_web.dashboard")
    if user.role == "operator" and "console.index" in views:
        if len(user.locations) == 1 and "console.stock" in views:
            return url_for("console.stock", code=user.locations[0].code)
        return url_for("console.index")
    if user.role == "producer":
        return PRODUCER_PORTAL
    return "/"


def landing_url(user: User, next_url: str | None = None) -> str:
    """Where ``user`` goes after signing in: ``next_url`` when it is right for them, else their role's home.

    A customer goes back to any page of the shop they came from. Staff and producers go back only to a
    page of their own work that sent them to sign in; from a public page they start at their home.
    """
    target = safe_path(next_url)
    roles = page_roles(target) if target else None
    if target and roles is not None:
        if user.role == "customer" and not roles:
            return target
        if user.role in roles:
            return target
    return home_for(user)
