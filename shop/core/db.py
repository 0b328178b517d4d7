"""Database handle, the unit of work, report reads on a replica and engine tuning for PostgreSQL and SQLite.

One use case = one ``atomic()`` block. Services only flush; the outermost ``atomic()`` commits and then
runs the after-commit hooks (the outbox relay uses them), so nothing leaves the process before the
commit that justifies it.

Report code (exports, the aid totals and dashboards) reads inside ``reporting()``: there ``db.session``
reads from the streaming replica ``DATABASE_REPLICA_URL`` when one is configured and answers, and from
the primary otherwise (no replica, the replica down, inside a unit of work, or after this session has
committed a write, whose result a replica may not have replayed yet).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as _FlaskSession
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase

from shop.core import clock
from shop.core.errors import ShopError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


log = logging.getLogger(__name__)


class _Held:
    """The connection a ``one_connection()`` block keeps (checked out at its first use)."""

    def __init__(self) -> None:
        self.connection: Connection | None = None


_held: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("shop_held_connection", default=None)


@contextmanager
def one_connection() -> Iterator[None]:
    """Keep one database connection for every transaction of the block (a Celery task).

    Each unit of work otherwise takes a connection from the pool and gives it back at its commit, and
    each checkout costs a pre-ping round trip: a task that commits its step and then marks the next outbox
    message sent would pay two. Nested blocks (a task run inline from another) keep their own.
    """
    held = _Held()
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        if held.connection is not None:
            held.connection.close()


# True while an atomic() block is open on this thread/task: SQLite then starts BEGIN IMMEDIATE.
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("shop_writing", default=False)
# The replica's engine while a reporting() block reads from it.
_reporting: contextvars.ContextVar[Engine | None] = contextvars.ContextVar("shop_reporting", default=None)
_AFTER_COMMIT = "shop_after_commit"
AFTER_COMMIT_HOOKS = _AFTER_COMMIT  # the session.info key of the hooks waiting for the commit
_WROTE = "shop_wrote"  # session.info: this session committed a write (its reads stay on the primary)
REPLICA_RETRY_SECONDS = 30.0  # after the replica failed, reports use the primary this long


class ShopSession(_FlaskSession):
    """``db.session``: reads go to the replica inside ``reporting()``; inside ``one_connection()`` to the
    connection the block holds; everything else to the primary through the pool."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any):
        if bind is not None:
            return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        replica = _reporting.get()
        # Not while writing, nor once this session has written: it must read its own writes.
        if replica is not None and not _writing.get() and not self.info.get(_WROTE):
            return replica
        held = _held.get()
        if held is None:
            return super().get_bind(mapper=mapper, clause=clause, **kwargs)
        if held.connection is None or held.connection.closed:
            # One checkout, so one pre-ping (``pool_pre_ping``), for the whole block. A connection that
            # breaks later (the database restarted) is invalidated on the error and reconnects, through
            # the pool and its pre-ping, on its next use.
            held.connection = super().get_bind(mapper=mapper, clause=clause, **kwargs).connect()
        return held.connection


db = SQLAlchemy(model_class=Base, session_options={"class_": ShopSession})


# The current instant in UTC, what every stored time is: the shop's clock (``clock.now``) under the name
# models and services have always used for column defaults and timestamps.
utcnow = clock.now


@contextmanager
def atomic() -> Iterator[None]:
    """Run the block as one transaction: commit on success, roll back on error.

    Nested calls join the outer transaction and only flush. After the outermost commit the hooks
    registered with ``after_commit`` run, in order. A ``recorded`` refusal (``ShopError.recorded``: the
    use case kept it on record) commits what was written before it, then is raised.
    """
    session = db.session()
    if _writing.get():
        yield
        session.flush()
        return
    if session.in_transaction():
        # A read-only transaction may be open (a view looked something up first). End it, so the
        # write transaction starts fresh (on SQLite: BEGIN IMMEDIATE instead of a failing upgrade).
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("atomic() entered with unflushed changes outside a unit of work")
        # Nothing was written, so keep what was read (the request's user...) instead of expiring it and
        # paying a reload per object; code that decides on fresh state locks with populate_existing.
        session.expire_on_commit = False
        try:
            session.commit()
        finally:
            session.expire_on_commit = True
    token = _writing.set(True)
    refused: ShopError | None = None
    try:
        try:
            yield
        except ShopError as err:
            if not err.recorded:
                raise
            refused = err
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop(_AFTER_COMMIT, None)
        raise
    finally:
        _writing.reset(token)
    session.info[_WROTE] = True
    hooks = session.info.pop(_AFTER_COMMIT, [])
    for hook in hooks:
        hook()
    if refused is not None:
        raise refused


def after_commit(hook: Callable[[], None]) -> None:
    """Run ``hook`` once the current unit of work has committed (never if it rolls back)."""
    if not _writing.get():
        raise RuntimeError("after_commit() outside atomic()")
    db.session().info.setdefault(_AFTER_COMMIT, []).append(hook)


def in_unit_of_work() -> bool:
    return _writing.get()


class _Replica:
    """The replica's engine and whether it answered lately (one per app)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.down_until = 0.0
        self.lock = threading.Lock()

    def usable(self) -> bool:
        if time.monotonic() < self.down_until:
            return False
        try:
            with self.engine.connect():  # pool_pre_ping: a dead pooled connection is replaced or fails here
                pass
        except OperationalError as exc:
            self.failed(exc)
            return False
        return True

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            was_up = time.monotonic() >= self.down_until
            self.down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        if was_up:
            log.warning(
                "reporting replica unusable, reports read from the primary for %.0f s: %s",
                REPLICA_RETRY_SECONDS,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )


def init_replica(app: Flask, url: str, options: dict[str, Any]) -> None:
    """Make the replica's engine (``DATABASE_REPLICA_URL``); nothing connects until a report reads."""
    if url:
        app.extensions["shop_replica"] = _Replica(create_engine(url, **options))


def replica_engine() -> Engine | None:
    """The configured replica's engine, or None (for tests and tools that look at the replica itself)."""
    state = current_app.extensions.get("shop_replica")
    return state.engine if state is not None else None


@contextmanager
def reporting() -> Iterator[Engine]:
    """Read for a report: inside the block ``db.session`` reads from the replica, and the block yields
    the engine it reads from (for a body streamed after the request, which opens its own connection).

    The replica is used only when ``DATABASE_REPLICA_URL`` is set and it answers now, outside a unit
    of work, and when this session has not committed a write: a read that must see what this request
    wrote stays on the primary. Otherwise, and on SQLite, the block reads from the primary. A replica
    lags the primary by its replay delay (normally well under a second): use this only for reports
    that may, and never cache what is read here where primary readers would take it for fresh.
    Nested blocks read where the outer one does.
    """
    current = _reporting.get()
    if current is not None:
        yield current
        return
    state: _Replica | None = current_app.extensions.get("shop_replica")
    if state is None or _writing.get() or db.session().info.get(_WROTE) or not state.usable():
        yield db.engine
        return
    token = _reporting.set(state.engine)
    try:
        yield state.engine
    except OperationalError as exc:
        state.failed(exc)  # the next report goes to the primary instead of failing again
        raise
    finally:
        _reporting.reset(token)


def read_engine() -> Engine:
    """The engine ``db.session`` reads from here: the replica inside a ``reporting()`` block that uses
    it, else the primary."""
    replica = _reporting.get()
    return replica if replica is not None and not db.session().info.get(_WROTE) else db.engine


def configure_engine(engine: Engine) -> None:
    """Tune an engine once it exists: SQLite gets WAL, foreign keys and BEGIN IMMEDIATE for writes."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - exercised on SQLite runs
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        # A write transaction takes the database's write lock up front, so two writers queue on
        # busy_timeout instead of one failing when it tries to upgrade a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _writing.get() else "BEGIN")
