"""Sign-in failure budgets, kept in the database and changed only by single atomic statements.

Three counters, each a fixed window of ``LOGIN_FAILURE_WINDOW_SECONDS`` started by its first attempt:

- **one account from one client address** (``LOGIN_MAX_FAILURES_PER_CLIENT``, 5): the lockout. Someone
  guessing from elsewhere does not lock the person out, because the person's own address has its own
  counter. An attempt *takes* from this budget before the password is checked (an upsert that returns the
  new count), so 40 parallel guesses get at most 5 password checks; a correct password gives it back.
- **one account from every address** (``LOGIN_MAX_FAILURES_PER_ACCOUNT``, 50): guessing spread over many
  addresses stays slow. Taken like the first and given back on success, so only wrong passwords use it
  up. When it is spent nobody signs in to that account until the window ends (the price of slowing a
  distributed guesser; docs/operations.md).
- **every account from one address** (``LOGIN_MAX_FAILURES_PER_ADDRESS``, 200): one address trying one
  password on many accounts. Counts wrong passwords only, so a whole office signing in behind one
  address is not slowed by its own successful sign-ins.

Unknown email addresses are counted exactly like real ones, so the answers do not reveal which exist.
The counters work without Redis (the embedded default has none) and agree across every web process.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.accounts.errors import AccountLocked
from shop.accounts.models import LoginThrottle
from shop.core import clock
from shop.core.db import db, utcnow


def _digest(*parts: str) -> str:
    raw = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:40]


def _norm(email: str) -> str:
    return email.strip().lower()[:254]


def pair_key(email: str, client: str) -> str:
    return "pair:" + _digest(_norm(email), client)


def account_key(email: str) -> str:
    return "acct:" + _digest(_norm(email))


def address_key(client: str) -> str:
    return "addr:" + client[:60]


def _settings():
    return current_app.extensions["settings"]


def _bump(key: str, now: datetime) -> tuple[int, datetime]:
    """Add one to ``key``'s count in one statement (starting a new window if the old one ended)."""
    window = timedelta(seconds=_settings().LOGIN_FAILURE_WINDOW_SECONDS)
    table = LoginThrottle.__table__
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    ended = table.c.window_ends_at <= now
    stmt = (
        insert(table)
        .values(key=key, count=1, window_ends_at=now + window)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((ended, 1), else_=table.c.count + 1),
                "window_ends_at": case((ended, now + window), else_=table.c.window_ends_at),
            },
        )
        .returning(table.c.count, table.c.window_ends_at)
    )
    count, ends = db.session.execute(stmt).one()
    return count, clock.aware(ends)


def _retry_after(ends: datetime, now: datetime) -> int:
    return max(1, int((ends - now).total_seconds()) + 1)


def take(email: str, client: str) -> None:
    """Take one sign-in attempt from the budgets of this account and address, or raise AccountLocked.

    Run in a unit of work of its own that commits before the password is checked.
    """
    settings = _settings()
    now = utcnow()
    spent = db.session.execute(
        select(LoginThrottle.count, LoginThrottle.window_ends_at).where(
            LoginThrottle.key == address_key(client)
        )
    ).first()
    if spent is not None and spent.count >= settings.LOGIN_MAX_FAILURES_PER_ADDRESS:
        ends = clock.aware(spent.window_ends_at)
        if ends > now:
            raise AccountLocked(
                "too many failed sign-ins from your network; try again later",
                retry_after=_retry_after(ends, now),
                scope="address",
            )
    count, ends = _bump(pair_key(email, client), now)
    if count > settings.LOGIN_MAX_FAILURES_PER_CLIENT:
        raise AccountLocked(
            "too many wrong passwords for this account; try again later",
            retry_after=_retry_after(ends, now),
            scope="client",
        )
    count, ends = _bump(account_key(email), now)
    if count > settings.LOGIN_MAX_FAILURES_PER_ACCOUNT:
        raise AccountLocked(
            "too many wrong passwords for this account; try again later",
            retry_after=_retry_after(ends, now),
            scope="account",
        )


def succeeded(email: str, client: str) -> None:
    """The password was right: this client's count starts again and the account gets its attempt back."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key(email, client)))
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == account_key(email), LoginThrottle.count > 0)
        .values(count=LoginThrottle.count - 1)
    )


def failed(client: str) -> None:
    """The password was wrong: it counts against the address's budget too."""
    _bump(address_key(client), utcnow())


def forget_account(email: str) -> None:
    """The account's person proved who they are another way (a password link): end its global lock."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(email)))


def purge(now: datetime | None = None) -> int:
    """Delete counters whose window has ended (the next attempt would restart them anyway)."""
    res = db.session.execute(delete(LoginThrottle).where(LoginThrottle.window_ends_at <= (now or utcnow())))
    return res.rowcount or 0
