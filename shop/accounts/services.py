"""Account use cases: register, sign in, issue, verify and end tokens, set passwords, create staff."""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, false, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import lazyload

from shop.accounts import livecache, throttle
from shop.accounts.errors import AccountDisabled, BadCredentials, EmailTaken, LastAdmin
from shop.accounts.models import ROLES, PasswordToken, RevokedToken, User
from shop.audit.services import record
from shop.catalog.models import Location, Producer
from shop.core import clock
from shop.core.db import atomic, db, utcnow
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


def _check_password(user: User | None, password: str) -> bool:
    """True when ``password`` is the account's; as slow for an unknown or password-less account."""
    if user is None or not user.has_password:
        with contextlib.suppress(VerificationError):
            _verify(_dummy_hash(), password)
        return False
    try:
        _verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return True


def sign_in(*, email: str, password: str, client: str) -> User:
    """Return the account for these credentials, within the sign-in failure budgets (``throttle``).

    Unlike other use cases this one commits in steps, because what it counts must stay counted when the
    attempt fails: the attempt is taken from the budgets and committed before the password is checked
    (so parallel guesses cannot all slip under the limit), then a wrong password is recorded, or a right
    one gives the attempt back, each in a unit of work of its own. The hash is checked outside any write
    transaction. Raises AccountLocked (429), BadCredentials (401) or AccountDisabled (403).
    """
    client = client or "unknown"
    with atomic():
        throttle.take(email, client)
    user = find_user_by_email(email)
    if not _check_password(user, password):
        with atomic():
            throttle.failed(client)
        raise BadCredentials("wrong email or password")
    assert user is not None
    new_hash = hash_password(password) if _hasher.check_needs_rehash(user.password_hash) else None
    old_hash, user_id = user.password_hash, user.id
    with atomic():
        throttle.succeeded(email, client)
        if new_hash:
            db.session.execute(
                update(User)
                .where(User.id == user_id, User.password_hash == old_hash)
                .values(password_hash=new_hash)
            )
            livecache.touched(db.session(), user_id)
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise AccountDisabled("this account is deactivated; ask an administrator")
    return user


def end_all_sessions(user: User) -> None:
    """Refuse every bearer token and web session issued to ``user`` so far (one atomic increment)."""
    user.token_version = User.token_version + 1
    db.session.flush()


def set_password(user: User, password: str) -> None:
    """Give ``user`` a new password; every earlier token and session of the account ends."""
    user.password_hash = hash_password(password)
    end_all_sessions(user)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="api-token")


@dataclass(frozen=True)
class TokenClaims:
    """What a valid bearer token says: whose it is, under which version, its id and when it expires."""

    user_id: int
    version: int
    jti: str | None  # None for tokens issued before tokens had ids (they end with their version)
    expires_at: datetime


def issue_token(user: User) -> tuple[str, int]:
    """Return a signed bearer token for ``user`` and its lifetime in seconds."""
    ttl = current_app.extensions["settings"].API_TOKEN_TTL_SECONDS
    claims = {"uid": user.id, "v": user.token_version, "jti": secrets.token_urlsafe(16)}
    return _serializer().dumps(claims), ttl


def read_token(token: str) -> TokenClaims | None:
    """The claims of a correctly signed, unexpired token (whether it was revoked is not checked here)."""
    ttl = current_app.extensions["settings"].API_TOKEN_TTL_SECONDS
    try:
        data, issued = _serializer().loads(token, max_age=ttl, return_timestamp=True)
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict):
        return None
    uid, version, jti = data.get("uid"), data.get("v"), data.get("jti")
    if type(uid) is not int or type(version) is not int:
        return None
    if jti is not None and not (isinstance(jti, str) and 0 < len(jti) <= 64):
        return None
    return TokenClaims(uid, version, jti, clock.aware(issued) + timedelta(seconds=ttl))


def live_user(user_id: int, version: int, jti: str | None) -> User | None:
    """The account of a token or session if it is still good: active, same version, not revoked.

    One statement: the user row and whether the token id is among the revoked ones.
    """
    revoked = select(RevokedToken.jti).where(RevokedToken.jti == jti).exists() if jti else false()
    # Locations load when an operator check asks for them, not on every authenticated request.
    row = db.session.execute(
        select(User, revoked).where(User.id == user_id).options(lazyload(User.locations))
    ).first()
    if row is None:
        return None
    user, is_revoked = row
    if is_revoked or not user.active or user.token_version != version:
        return None
    return user


def user_for_token(token: str) -> User | None:
    """Return the user a valid, unexpired, unrevoked token belongs to, else None."""
    claims = read_token(token)
    return live_user(claims.user_id, claims.version, claims.jti) if claims else None


def revoke(jti: str, *, user_id: int, expires_at: datetime) -> None:
    """Refuse the token or session ``jti`` from now on (kept until it would have expired anyway)."""
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    db.session.execute(
        insert(RevokedToken.__table__)
        .values(jti=jti, user_id=user_id, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["jti"])
    )
    livecache.touched(db.session(), user_id)


def log_out_token(claims: TokenClaims, *, everywhere: bool = False) -> None:
    """End one bearer token (other devices stay signed in), or with ``everywhere`` every token and session."""
    user = db.session.get(User, claims.user_id)
    if user is None:
        return
    if everywhere or claims.jti is None:
        end_all_sessions(user)  # a token without an id cannot be ended on its own
    else:
        revoke(claims.jti, user_id=user.id, expires_at=claims.expires_at)
    record(user, "user.logout", target_type="user", target_id=user.id, via="api", everywhere=everywhere)


def purge_expired() -> dict[str, int]:
    """Delete revocations, sign-in counters and password links that can no longer matter."""
    now = utcnow()
    revoked = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now)).rowcount
    # Used or expired links are kept a week for questions ("I never got the mail"), then deleted.
    links = db.session.execute(
        delete(PasswordToken).where(PasswordToken.expires_at <= now - timedelta(days=7))
    ).rowcount
    return {
        "revoked_tokens": revoked or 0,
        "login_counters": throttle.purge(now),
        "password_links": links or 0,
    }


def create_staff_user(
    *,
    email: str,
    password: str,
    role: str,
    name: str = "",
    location_codes: list[str] | None = None,
    producer_code: str | None = None,
) -> User:
    """Create (or reset the password, role, locations and producer of) any account: the CLI's way in,
    which makes the first admin. An existing account is reactivated and its sessions end."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    locations = locations_for(role, location_codes)
    producer = producer_for(role, producer_code)
    user = find_user_by_email(email)
    if user is None:
        user = User(
            email=email.strip().lower(),
            name=name or email.split("@")[0],
            password_hash=hash_password(password),
        )
        db.session.add(user)
    else:
        set_password(user, password)
        user.active = True
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


def locations_for(role: str, codes: list[str] | None) -> list[Location]:
    """The locations granted with ``role``: operators need at least one; other roles get none."""
    locations = []
    for code in dict.fromkeys(codes or []):
        loc = db.session.scalar(select(Location).where(Location.code == code))
        if loc is None:
            raise ValidationFailed(
                f"unknown location {code}", errors=[{"field": "locations", "message": "unknown location"}]
            )
        locations.append(loc)
    if role == "operator" and not locations:
        raise ValidationFailed(
            "an operator needs at least one location",
            errors=[{"field": "locations", "message": "required for operators"}],
        )
    return locations if role == "operator" else []


def producer_for(role: str, producer_code: str | None) -> Producer | None:
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
            f"unknown producer {producer_code}",
            errors=[{"field": "producer", "message": "unknown producer"}],
        )
    return producer


def guard_last_admin(user: User) -> None:
    """Refuse to take the last active admin away (demotion or deactivation): nobody could undo it.

    Locks every active admin row first, so two admins demoting each other at once cannot both pass.
    """
    if user.role != "admin" or not user.active:
        return
    admins = db.session.scalars(
        select(User.id).where(User.role == "admin", User.active.is_(True)).with_for_update()
    ).all()
    if [uid for uid in admins if uid != user.id]:
        return
    raise LastAdmin("this is the only active admin; make another admin first")


def change_role(
    user_id: int,
    *,
    role: str,
    location_codes: list[str] | None = None,
    producer_code: str | None = None,
    actor=None,
) -> User:
    """Change a user's role, granted locations and producer (admins only); audited, ends their sessions.

    Saving what is already there changes nothing (and signs nobody out).
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    if role not in ROLES:
        raise ValidationFailed(
            f"role must be one of {', '.join(ROLES)}", errors=[{"field": "role", "message": "unknown role"}]
        )
    locations = locations_for(role, location_codes)
    producer_id = None
    if role == "producer":
        if producer_code:
            producer_id = producer_for(role, producer_code).id
        elif user.producer_id is not None:
            producer_id = user.producer_id
        else:
            raise ValidationFailed(
                "a producer account needs its producer",
                errors=[{"field": "producer", "message": "required for the producer role"}],
            )
    elif producer_code:
        producer_for(role, producer_code)  # raises: only producer accounts are bound
    before = {"role": user.role, "locations": sorted(loc.code for loc in user.locations)}
    after = {"role": role, "locations": sorted(loc.code for loc in locations)}
    if before == after and user.producer_id == producer_id:
        return user
    if role != "admin":
        guard_last_admin(user)
    user.role = role
    user.locations = locations
    user.producer_id = producer_id
    end_all_sessions(user)
    record(actor, "user.role_change", target_type="user", target_id=user.id, before=before, after=after)
    return user
