"""Account use cases: register, authenticate, issue and verify API tokens, create staff."""

from __future__ import annotations

import contextlib
import functools
import threading
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from shop.accounts.errors import AccountLocked, BadCredentials, EmailTaken
from shop.accounts.models import ROLES, User
from shop.audit.services import record
from shop.catalog.models import Location, Producer
from shop.core.db import db, utcnow
from shop.core.errors import NotFound, ValidationFailed

# Argon2id with OWASP's password-storage parameters (19 MiB, 2 passes, 1 lane) rather than the
# library's default 64 MiB: a web process may hash several logins at once, and at 64 MiB each the
# hashes alone pushed a worker past its memory budget (docs/benchmarks.md). Hashes made with other
# parameters still verify and are upgraded at the next successful login (check_needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# One hash at a time per process: each holds 19 MiB and a core for about 20 ms, so a burst of logins
# (or someone guessing passwords) queues here, about 50 a second per process, instead of multiplying
# a worker's memory by its thread count and taking every core from the other requests.
_HASH_SLOTS = threading.BoundedSemaphore(1)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


@functools.cache
def _dummy_hash() -> str:
    """A valid hash to verify against when the email is unknown, so timing does not reveal accounts.

    Made on first use, not at import: hashing takes the hasher's 19 MiB, and every web process would
    otherwise reach that peak at start even if nobody ever mistypes an email.
    """
    return hash_password("not-a-real-password")


def hash_password(password: str) -> str:
    with _HASH_SLOTS:
        return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> None:
    """Raise VerificationError (or InvalidHashError) unless ``password`` matches ``password_hash``."""
    with _HASH_SLOTS:
        _hasher.verify(password_hash, password)


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def register_customer(
    *,
    email: str,
    password: str,
    name: str,
    buyer_kind: str = "consumer",
    invoice_title: str = "",
    tax_id: str = "",
) -> User:
    """Create a customer account (a consumer or a work-unit buyer)."""
    if find_user_by_email(email) is not None:
        raise EmailTaken(f"{email} is already registered")
    if buyer_kind == "work_unit" and not (invoice_title and tax_id):
        raise ValidationFailed(
            "work-unit buyers need an invoice title and a tax id",
            errors=[{"field": "invoice_title", "message": "required for work units"}],
        )
    user = User(
        email=email.strip().lower(),
        name=name.strip(),
        password_hash=hash_password(password),
        role="customer",
        buyer_kind=buyer_kind,
        invoice_title=invoice_title,
        tax_id=tax_id,
    )
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(*, email: str, password: str) -> User:
    """Return the user for these credentials; count failures and lock after repeated ones."""
    user = find_user_by_email(email)
    if user is None:
        with contextlib.suppress(VerificationError):
            _verify(_dummy_hash(), password)
        raise BadCredentials("wrong email or password")
    now = utcnow()
    locked_until = user.locked_until
    if locked_until is not None and locked_until.tzinfo is None:
        locked_until = locked_until.replace(tzinfo=now.tzinfo)
    if locked_until is not None and locked_until > now:
        raise AccountLocked(
            "too many failed logins; try again later",
            retry_after=int((locked_until - now).total_seconds()) + 1,
        )
    try:
        _verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise BadCredentials("wrong email or password") from None
    if user.failed_logins or user.locked_until:
        user.failed_logins = 0
        user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.session.flush()
    return user


def record_failed_login(email: str) -> None:
    """Count a failed login; lock the account for a while after repeated failures."""
    user = find_user_by_email(email)
    if user is None:
        return
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = utcnow() + LOCKOUT
        user.failed_logins = 0
    db.session.flush()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="api-token")


def issue_token(user: User) -> tuple[str, int]:
    """Return a signed bearer token for ``user`` and its lifetime in seconds."""
    ttl = current_app.extensions["settings"].API_TOKEN_TTL_SECONDS
    return _serializer().dumps({"uid": user.id, "v": user.token_version}), ttl


def user_for_token(token: str) -> User | None:
    """Return the user a valid, unexpired, unrevoked token belongs to, else None."""
    ttl = current_app.extensions["settings"].API_TOKEN_TTL_SECONDS
    try:
        data = _serializer().loads(token, max_age=ttl)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict):
        return None
    # Locations load when an operator check asks for them, not on every bearer-token request.
    user = db.session.get(User, data.get("uid"), options=[lazyload(User.locations)])
    if user is None or user.token_version != data.get("v"):
        return None
    return user


def create_staff_user(
    *,
    email: str,
    password: str,
    role: str,
    name: str = "",
    location_codes: list[str] | None = None,
    producer_code: str | None = None,
) -> User:
    """Create (or update the role, locations and producer of) a staff, producer or customer account."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    locations = []
    for code in location_codes or []:
        loc = db.session.scalar(select(Location).where(Location.code == code))
        if loc is None:
            raise NotFound(f"unknown location {code}")
        locations.append(loc)
    if role == "operator" and not locations:
        raise ValidationFailed("an operator needs at least one --location")
    producer = _producer_for(role, producer_code)
    user = find_user_by_email(email)
    if user is None:
        user = User(
            email=email.strip().lower(),
            name=name or email.split("@")[0],
            password_hash=hash_password(password),
        )
        db.session.add(user)
    else:
        user.password_hash = hash_password(password)
        user.token_version += 1
    user.role = role
    user.locations = locations
    user.producer_id = producer.id if producer else None
    db.session.flush()
    record(
        None,
        "user.create_or_reset",
        target_type="user",
        target_id=user.id,
        email=user.email,
        role=role,
        locations=[loc.code for loc in locations],
        producer=producer.code if producer else None,
        via="cli",
    )
    return user


def _producer_for(role: str, producer_code: str | None) -> Producer | None:
    """The producer a ``producer`` account is bound to (required for that role, refused for others)."""
    if role != "producer":
        if producer_code:
            raise ValidationFailed(
                "only a producer account is bound to a producer",
                errors=[{"field": "producer", "message": "only for the producer role"}],
            )
        return None
    if not producer_code:
        raise ValidationFailed(
            "a producer account needs its producer",
            errors=[{"field": "producer", "message": "required for the producer role"}],
        )
    producer = db.session.scalar(select(Producer).where(Producer.code == producer_code))
    if producer is None:
        raise ValidationFailed(
            f"unknown producer {producer_code}", errors=[{"field": "producer", "message": producer_code}]
        )
    return producer


def change_role(user_id: int, *, role: str, location_codes: list[str] | None = None, actor=None) -> User:
    """Change a user's role and granted locations (admins only); audited, revokes issued tokens."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    locations = []
    for code in location_codes or []:
        loc = db.session.scalar(select(Location).where(Location.code == code))
        if loc is None:
            raise ValidationFailed(
                f"unknown location {code}", errors=[{"field": "locations", "message": code}]
            )
        locations.append(loc)
    if role == "operator" and not locations:
        raise ValidationFailed(
            "an operator needs at least one location",
            errors=[{"field": "locations", "message": "required for operators"}],
        )
    if role == "producer" and user.producer_id is None:
        raise ValidationFailed(
            "a producer account is bound to its producer when it is created or invited",
            errors=[{"field": "role", "message": "not bound to a producer"}],
        )
    before = {"role": user.role, "locations": [loc.code for loc in user.locations]}
    user.role = role
    user.locations = locations if role == "operator" else []
    if role != "producer":
        user.producer_id = None
    user.token_version += 1
    db.session.flush()
    record(
        actor,
        "user.role_change",
        target_type="user",
        target_id=user.id,
        before=before,
        after={"role": role, "locations": [loc.code for loc in user.locations]},
    )
    return user
