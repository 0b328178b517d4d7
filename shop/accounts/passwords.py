"""Emailed links to set a password: "forgot password" for everyone, and the invitation of new staff.

A link carries a random token (256 bits); only its SHA-256 is stored. It works once (a conditional UPDATE
marks it used, so two tabs submitting at once cannot both set a password), not after it expires, not for a
deactivated account, and setting a password through it ends every earlier token and session of the
account and every other link sent to it.

Asking for a reset answers the same whether or not the address has an account: the request only writes an
outbox message; the task behind it looks the address up and, for an active account, makes the link and
queues the mail through the notifications (after commit). So the request does the same work either way.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from shop.accounts import throttle
from shop.accounts.errors import InvalidPasswordLink
from shop.accounts.models import PasswordToken, User
from shop.accounts.services import end_all_sessions, find_user_by_email, hash_password
from shop.audit.services import record
from shop.core.db import db, utcnow
from shop.core.outbox import enqueue
from shop.notifications.services import notify

SEND_TASK = "shop.accounts.send_password_link"
SET_PASSWORD_PATH = "/password/set"
ROLE_NAMES = {
    "admin": ("管理员", "admin"),
    "aid_officer": ("帮扶专员", "aid officer"),
    "operator": ("展馆操作员", "hall operator"),
    "producer": ("生产主体", "producer"),
    "customer": ("顾客", "customer"),
}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _settings():
    return current_app.extensions["settings"]


def link_for(token: str) -> str:
    """The page a person opens to set their password (the shop's public address, not the request's)."""
    return f"{_settings().PUBLIC_BASE_URL.rstrip('/')}{SET_PASSWORD_PATH}?token={token}"


def new_link(user: User, *, purpose: str) -> tuple[PasswordToken, str]:
    """Make a single-use link for ``user`` (``purpose`` reset or invite); return its row and its URL."""
    ttl = (
        _settings().INVITATION_TTL_SECONDS if purpose == "invite" else _settings().PASSWORD_RESET_TTL_SECONDS
    )
    token = secrets.token_urlsafe(32)
    row = PasswordToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=_digest(token),
        expires_at=utcnow() + timedelta(seconds=ttl),
    )
    db.session.add(row)
    db.session.flush()
    return row, link_for(token)


def request_reset(email: str) -> None:
    """Ask for a reset link for ``email``: the same work whether or not it has an account."""
    enqueue(SEND_TASK, {"email": email.strip().lower()[:254]})


def send_reset_link(email: str) -> bool:
    """Send a reset link to the active account of ``email`` (the task behind ``request_reset``)."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        return False
    send_link(user, purpose="reset" if user.has_password else "invite")
    return True


def send_link(user: User, *, purpose: str, actor: User | None = None) -> PasswordToken:
    """Queue the mail with a new link for ``user`` (a reset, or an invitation to set a first password)."""
    row, url = new_link(user, purpose=purpose)
    hours = max(1, round((row.expires_at - row.created_at).total_seconds() / 3600))
    if purpose == "invite":
        role_zh, role_en = ROLE_NAMES.get(user.role, (user.role, user.role))
        inviter = actor.name if actor is not None else "甘谷消费帮扶商城"
        subject = "邀请您加入甘谷消费帮扶商城 / Your staff account at the Gangu aid shop"
        body = (
            f"{user.name}，您好：\n\n{inviter} 邀请您以“{role_zh}”身份使用甘谷消费帮扶商城。"
            f"请在 {hours} 小时内打开下面的链接设置密码（链接只能使用一次）：\n\n{url}\n\n"
            f"Hello {user.name},\n\n{inviter} invited you to the Gangu aid shop as {role_en}. Open the "
            f"link above within {hours} hours to choose your password (it works once).\n"
        )
    else:
        subject = "重设密码 / Reset your password · 甘谷消费帮扶商城"
        body = (
            f"{user.name}，您好：\n\n请在 {hours} 小时内打开下面的链接设置新密码（链接只能使用一次）：\n\n"
            f"{url}\n\n如果不是您本人申请，请忽略这封邮件，您的密码不会改变。\n\n"
            f"Hello {user.name},\n\nOpen the link above within {hours} hours to choose a new password (it "
            "works once). If you did not ask for it, ignore this message: your password stays as it is.\n"
        )
    notify(
        dedupe_key=f"password-link:{row.id}",
        kind=f"password_{purpose}",
        subject=subject,
        body=body,
        user=user,
    )
    if actor is not None:
        record(actor, f"user.{purpose}_sent", target_type="user", target_id=user.id, email=user.email)
    return row


def confirm(token: str, password: str) -> User:
    """Set the password of the link's account; the link, the account's other links and every earlier
    token and session stop working. Raise InvalidPasswordLink for an unknown, used or expired link."""
    # Hashed before the first statement: on SQLite the write lock is not held through the hashing.
    new_hash = hash_password(password)
    now = utcnow()
    claimed = db.session.execute(
        update(PasswordToken)
        .where(
            PasswordToken.token_hash == _digest(token),
            PasswordToken.used_at.is_(None),
            PasswordToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(PasswordToken.user_id, PasswordToken.purpose)
    ).first()
    user = db.session.get(User, claimed.user_id, with_for_update=True) if claimed else None
    if user is None or not user.active:
        raise InvalidPasswordLink(
            "this link is invalid, used or expired; ask for a new one",
            errors=[{"field": "token", "message": "invalid, used or expired link"}],
        )
    user.password_hash = new_hash
    end_all_sessions(user)
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    throttle.forget_account(user.email)
    record(user, "user.password_set", target_type="user", target_id=user.id, via=claimed.purpose)
    return user


def pending_links(user: User) -> list[PasswordToken]:
    """The account's links that still work (for the people pages)."""
    return list(
        db.session.scalars(
            select(PasswordToken)
            .where(
                PasswordToken.user_id == user.id,
                PasswordToken.used_at.is_(None),
                PasswordToken.expires_at > utcnow(),
            )
            .order_by(PasswordToken.id.desc())
        )
    )
