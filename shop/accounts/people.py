"""People: admins invite staff and producer accounts, change their roles and halls, deactivate them.

An invited person gets an email with a link (``passwords``) to choose their own password; nobody else
ever knows it. Deactivating ends every session and token of the account at once; a deactivated account
cannot sign in or ask for a reset. Every change is in the audit log. ``flask users create`` stays the way
to make the first admin.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from shop.accounts import passwords
from shop.accounts.errors import EmailTaken, NotOnYourself
from shop.accounts.models import INVITABLE_ROLES, NO_PASSWORD, ROLES, PasswordToken, User
from shop.accounts.services import (
    change_role,
    end_all_sessions,
    find_user_by_email,
    guard_last_admin,
    locations_for,
    producer_for,
)
from shop.audit.services import record
from shop.core.api import page_of
from shop.core.db import db, utcnow
from shop.core.errors import NotFound, ValidationFailed

STATUSES = ("active", "invited", "deactivated")


def invite_staff(
    *,
    email: str,
    name: str,
    role: str,
    location_codes: list[str] | None = None,
    producer_code: str | None = None,
    actor: User,
) -> User:
    """Create a staff or producer account without a password and email its person a link to set one."""
    if role not in INVITABLE_ROLES:
        raise ValidationFailed(
            f"role must be one of {', '.join(INVITABLE_ROLES)}",
            errors=[{"field": "role", "message": "unknown role"}],
        )
    if find_user_by_email(email) is not None:
        raise EmailTaken(
            f"{email.strip().lower()} already has an account",
            errors=[{"field": "email", "message": "already has an account"}],
        )
    locations = locations_for(role, location_codes)
    producer = producer_for(role, producer_code)
    user = User(
        email=email.strip().lower(),
        name=name.strip(),
        password_hash=NO_PASSWORD,
        role=role,
        producer_id=producer.id if producer else None,
    )
    user.locations = locations
    db.session.add(user)
    db.session.flush()
    record(
        actor,
        "user.invite",
        target_type="user",
        target_id=user.id,
        email=user.email,
        name=user.name,
        role=role,
        locations=[loc.code for loc in locations],
        producer=producer.code if producer else None,
    )
    passwords.send_link(user, purpose="invite", actor=actor)
    return user


def get_person(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def list_people(
    *,
    q: str | None = None,
    role: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[User], int]:
    """Staff and producer accounts (or one ``role``, customers included), searched by name or email."""
    stmt = select(User).options(selectinload(User.producer)).order_by(User.name, User.id)
    stmt = stmt.where(User.role == role) if role in ROLES else stmt.where(User.role != "customer")
    if q:
        like = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(func.lower(User.email).like(like, escape="\\"), func.lower(User.name).like(like, escape="\\"))
        )
    if status == "active":
        stmt = stmt.where(User.active.is_(True), User.password_hash != NO_PASSWORD)
    elif status == "invited":
        stmt = stmt.where(User.active.is_(True), User.password_hash == NO_PASSWORD)
    elif status == "deactivated":
        stmt = stmt.where(User.active.is_(False))
    return page_of(stmt, page=page, per_page=per_page)


def deactivate(user_id: int, *, actor: User) -> User:
    """Deactivate an account: every session and token ends now; it cannot sign in or reset its password."""
    user = get_person(user_id)
    if user.id == actor.id:
        raise NotOnYourself("you cannot deactivate your own account; ask another admin")
    if not user.active:
        return user
    guard_last_admin(user)
    user.active = False
    end_all_sessions(user)
    # Links sent earlier would otherwise set a password for an account that cannot use it.
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    record(actor, "user.deactivate", target_type="user", target_id=user.id, email=user.email)
    return user


def reactivate(user_id: int, *, actor: User) -> User:
    """Let a deactivated account sign in again (with its old password, or a new link)."""
    user = get_person(user_id)
    if user.active:
        return user
    user.active = True
    db.session.flush()
    record(actor, "user.reactivate", target_type="user", target_id=user.id, email=user.email)
    return user


def send_password_link(user_id: int, *, actor: User) -> User:
    """Email a person a new link: an invitation again if they never set a password, else a reset."""
    user = get_person(user_id)
    if not user.active:
        raise ValidationFailed(
            "a deactivated account gets no password link; reactivate it first",
            errors=[{"field": "active", "message": "account is deactivated"}],
        )
    passwords.send_link(user, purpose="reset" if user.has_password else "invite", actor=actor)
    return user


def status_of(user: User) -> str:
    """active, invited (no password chosen yet) or deactivated."""
    if not user.active:
        return "deactivated"
    return "active" if user.has_password else "invited"


def update_person(
    user_id: int,
    *,
    actor: User,
    name: str | None = None,
    role: str | None = None,
    location_codes: list[str] | None = None,
    producer_code: str | None = None,
) -> User:
    """Change a person's name, role, halls or producer; what is not given stays as it is.

    A role, hall or producer change ends the person's sessions and tokens (``change_role``); a new name
    does not.
    """
    user = get_person(user_id)
    if name is not None and name.strip() and name.strip() != user.name:
        record(
            actor, "user.rename", target_type="user", target_id=user.id, before=user.name, after=name.strip()
        )
        user.name = name.strip()
        db.session.flush()
    new_role = role or user.role
    if location_codes is None:
        location_codes = [loc.code for loc in user.locations] if new_role == "operator" else []
    if producer_code is None and new_role == "producer" and user.producer is not None:
        producer_code = user.producer.code
    return change_role(
        user.id, role=new_role, location_codes=location_codes, producer_code=producer_code, actor=actor
    )
