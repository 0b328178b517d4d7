"""Database handle, the unit of work and engine tuning for PostgreSQL and SQLite.

One use case = one ``atomic()`` block. Services only flush; the outermost ``atomic()`` commits and then
runs the after-commit hooks (the outbox relay uses them), so nothing leaves the process before the
commit that justifies it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
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


db = SQLAlchemy(model_class=Base)

# True while an atomic() block is open on this thread/task: SQLite then starts BEGIN IMMEDIATE.
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("shop_writing", default=False)
_AFTER_COMMIT = "shop_after_commit"
AFTER_COMMIT_HOOKS = _AFTER_COMMIT  # the session.info key of the hooks waiting for the commit


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
