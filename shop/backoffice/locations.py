"""Locations in the back office: halls, the warehouse and fair booths (with their first and last day),
pickup on or off, opening hours, and which operators work at each."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.audit.services import record
from shop.backoffice import checks
from shop.backoffice.checks import Problems
from shop.backoffice.errors import LocationCodeTaken, NotAnOperator
from shop.catalog import cache
from shop.catalog.errors import LocationNotFound
from shop.catalog.models import Location
from shop.core.db import after_commit, db

# What the back office creates; the in-transit location is inventory's own bookkeeping.
LOCATION_KINDS = ("hall", "fair", "warehouse", "fulfilment")
TEXT = {
    "name": ("name_zh", 120),
    "name_en": ("name_en", 160),
    "district": ("district", 60),
    "address": ("address", 200),
    "opening_hours": ("opening_hours", 80),
}


def get_location(code: str) -> Location:
    loc = db.session.scalar(select(Location).where(Location.code == code, Location.kind != "transit"))
    if loc is None:
        raise LocationNotFound(f"location {code} does not exist")
    return loc


def list_locations() -> list[Location]:
    return list(
        db.session.scalars(
            select(Location).where(Location.kind != "transit").order_by(Location.kind, Location.id)
        )
    )


def _check(p: Problems, data: dict, *, creating: bool, current: Location | None = None) -> dict:
    values: dict = {}
    for field, (attr, max_len) in TEXT.items():
        if field in data or (creating and field == "name"):
            values[attr] = p.text(field, data.get(field), max_len=max_len, required=field == "name")
    if "kind" in data or creating:
        values["kind"] = p.choice("kind", data.get("kind"), LOCATION_KINDS)
    for flag in ("pickup", "ships"):
        if flag in data:
            if not isinstance(data[flag], bool):
                p.add(flag, checks.REQUIRED)
            values[flag] = bool(data[flag])
    for field, attr in (("opens_on", "active_from"), ("closes_on", "active_until")):
        if field in data:
            if data[field] is not None and not isinstance(data[field], date):
                p.add(field, checks.BAD_DATE)
            else:
                values[attr] = data[field]
    kind = values.get("kind", current.kind if current else None)
    first = values.get("active_from", current.active_from if current else None)
    last = values.get("active_until", current.active_until if current else None)
    p.date_range(first, last, last_field="closes_on")
    if kind == "fair":
        if first is None:
            p.add("opens_on", checks.FAIR_NEEDS_DATES)
        if last is None:
            p.add("closes_on", checks.FAIR_NEEDS_DATES)
    return values


def create_location(*, code: str, actor=None, **data) -> Location:
    """Open a hall, warehouse or fair booth; a code already taken is a 409 naming it."""
    p = Problems()
    code = p.pattern("code", code, checks.LOCATION_CODE, checks.BAD_LOCATION_CODE)
    data.setdefault("pickup", False)
    values = _check(p, data, creating=True)
    p.raise_if_any()
    if db.session.scalar(select(Location.id).where(Location.code == code)) is not None:
        raise _taken(code)
    values["name_en"] = values.get("name_en") or values["name_zh"]
    loc = Location(code=code, **values)
    try:
        with db.session.begin_nested():
            db.session.add(loc)
            db.session.flush()
    except IntegrityError:
        raise _taken(code) from None
    record(actor, "location.create", target_type="location", target_id=code, **_jsonable(values))
    after_commit(cache.clear)
    return loc


def _taken(code: str) -> LocationCodeTaken:
    return LocationCodeTaken(
        f"location code {code!r} is already taken",
        errors=[{"field": "code", "message": checks.ALREADY_TAKEN}],
    )


def _jsonable(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def update_location(code: str, *, actor=None, **data) -> Location:
    """Change a location's names, address, pickup, opening hours or (fair booths) dates."""
    loc = get_location(code)
    p = Problems()
    values = _check(p, data, creating=False, current=loc)
    p.raise_if_any()
    before = {k: getattr(loc, k) for k in values}
    for attr, value in values.items():
        setattr(loc, attr, value)
    db.session.flush()
    changed = {k: v for k, v in values.items() if before[k] != v}
    if changed:
        record(
            actor,
            "location.update",
            target_type="location",
            target_id=code,
            before=_jsonable({k: before[k] for k in changed}),
            after=_jsonable(changed),
        )
    after_commit(cache.clear)
    return loc


def operators_of(loc: Location) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.role == "operator", User.locations.any(Location.id == loc.id))
            .order_by(User.email)
        )
    )


def operator_candidates(loc: Location) -> list[User]:
    """Operators not yet working at ``loc``."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role == "operator", ~User.locations.any(Location.id == loc.id))
            .order_by(User.email)
        )
    )


def assign_operator(code: str, *, email: str, actor=None) -> User:
    """Let an operator act at this location too (their other locations stay)."""
    loc = get_location(code)
    user = db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))
    if user is None or user.role != "operator":
        raise NotAnOperator(
            f"{email} is not an operator's account",
            errors=[{"field": "email", "message": "not an operator"}],
        )
    if all(existing.id != loc.id for existing in user.locations):
        user.locations.append(loc)
        db.session.flush()
        record(
            actor,
            "location.operator_assigned",
            target_type="location",
            target_id=code,
            user_id=user.id,
            email=user.email,
        )
    return user


def remove_operator(code: str, *, user_id: int, actor=None) -> None:
    """Stop an operator acting at this location (at once: every request checks the grant)."""
    loc = get_location(code)
    user = db.session.get(User, user_id)
    if user is None or all(existing.id != loc.id for existing in user.locations):
        return
    user.locations = [existing for existing in user.locations if existing.id != loc.id]
    db.session.flush()
    record(
        actor,
        "location.operator_removed",
        target_type="location",
        target_id=code,
        user_id=user.id,
        email=user.email,
    )
