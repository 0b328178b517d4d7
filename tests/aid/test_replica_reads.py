"""Reports read from the streaming replica (``DATABASE_REPLICA_URL``), and only reports.

A real hot standby of the test cluster (``scripts/replica.sh``, on 127.0.0.1:5433; ``TEST_PG_REPLICA_URL``)
streams this worker's database. Pausing its replay makes it visibly behind the primary: an export that
reads from it does not show a sale the primary has committed; once replay resumes and the replica has
caught up, it does. Without a replica, or with one that does not answer, exports read from the primary;
and what a request (or the session) has just written is never read back from the replica.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import psycopg
import pytest
from sqlalchemy import func, select

from config import ConfigError, load_settings
from shop.aid.models import AidEntry
from shop.core.db import db, replica_engine, reporting
from tests.aid.conftest import CODE, YEAR
from tests.aid.helpers import sell
from tests.aid.test_offshop import _body
from tests.conftest import ADMIN_URL, ApiClient, make_app

REPLICA_ADMIN_URL = os.environ.get("TEST_PG_REPLICA_URL", "postgresql://postgres@127.0.0.1:5433/postgres")
# Held on the primary while replay is paused, so two test runs sharing the replica never overlap there.
PAUSE_LOCK = 721_045_033
CATCH_UP_SECONDS = 120  # a deadline for a broken replica, not a speed check
DAY = date(YEAR, 3, 31)  # after every entry of the known ledger: the last export row


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def wait_for_replay(replica: psycopg.Connection, primary: psycopg.Connection) -> None:
    """Wait until the replica has replayed everything the primary had written when this was called."""
    lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        caught_up = replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]
        if caught_up:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the replica did not replay up to {lsn} (is replay paused? scripts/replica.sh)")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def replica_conn() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(REPLICA_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL replica at {REPLICA_ADMIN_URL} (run scripts/replica.sh): {exc}")
    assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0], f"{REPLICA_ADMIN_URL} is not a standby"
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def primary_conn() -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    yield conn
    conn.close()


@contextmanager
def replay_paused(replica: psycopg.Connection, primary: psycopg.Connection) -> Iterator[None]:
    """The replica stops applying WAL (it keeps receiving it) until the block ends, even if it fails."""
    primary.execute("SELECT pg_advisory_lock(%s)", (PAUSE_LOCK,))
    try:
        wait_for_replay(replica, primary)  # everything before the block is on the replica
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            # A pause is only requested until recovery reaches its next record: give it one.
            while replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                primary.execute("SELECT pg_current_xact_id()")
                time.sleep(0.02)
            yield
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
    finally:
        primary.execute("SELECT pg_advisory_unlock(%s)", (PAUSE_LOCK,))


def _make(pg_url, redis_url, tmp_path_factory, replica_url: str):
    a = make_app(pg_url, redis_url, tmp_path_factory.mktemp("replica-app"), DATABASE_REPLICA_URL=replica_url)
    return a


@pytest.fixture(scope="session")
def replica_pg_app(pg_app, pg_url, redis_url, tmp_path_factory, replica_conn):
    """The app with DATABASE_REPLICA_URL naming this worker's database on the replica."""
    name = pg_url.rsplit("/", 1)[1]
    a = _make(pg_url, redis_url, tmp_path_factory, f"{REPLICA_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    yield a
    with a.app_context():
        replica_engine().dispose()
        db.engine.dispose()


@pytest.fixture(scope="session")
def unreachable_pg_app(pg_app, pg_url, redis_url, tmp_path_factory):
    """The app with a replica URL where nothing listens."""
    a = _make(pg_url, redis_url, tmp_path_factory, "postgresql://postgres@127.0.0.1:1/nothing")
    yield a
    with a.app_context():
        db.engine.dispose()


@pytest.fixture
def replica_app(app, known_set, officers, replica_pg_app, replica_conn, primary_conn):
    """The known ledger, committed on the primary and replayed on the replica."""
    wait_for_replay(replica_conn, primary_conn)
    with replica_pg_app.app_context():
        yield replica_pg_app


def _officer(a, officers) -> ApiClient:
    return ApiClient(a.test_client()).as_user(officers[0])


def _csv_sources(api: ApiClient) -> list[str]:
    r = api.get(f"/api/v1/aid/programmes/{CODE}/export?format=csv")
    assert r.status_code == 200, r.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).removeprefix("\ufeff"))))
    return [row[1] for row in rows[1:-1]]


def _totals(api: ApiClient) -> int:
    r = api.get(f"/api/v1/aid/programmes/{CODE}/totals")
    assert r.status_code == 200, r.json
    return r.json["total_fen"]


def test_an_export_reads_from_the_replica(replica_app, officers, replica_conn, primary_conn):
    api = _officer(replica_app, officers)
    before = _csv_sources(api)
    assert "order:9" not in before and "order:1" in before
    total_before = _totals(api)
    with replay_paused(replica_conn, primary_conn):
        sell("order:9", DAY, "online", ("APL-HN-5KG", 1, 6800))  # committed on the primary
        assert _count("order:9") == 1
        # The replica has not replayed the sale: the export and the totals, read there, do not have it.
        assert _csv_sources(api) == before
        assert _totals(api) == total_before
        r = api.get(f"/api/v1/aid/programmes/{CODE}/export?format=xlsx")
        assert r.status_code == 200
    wait_for_replay(replica_conn, primary_conn)
    assert _csv_sources(api) == [*before, "order:9"]
    assert _totals(api) == total_before + 6800


def test_without_a_usable_replica_exports_read_the_primary(
    replica_app, unreachable_pg_app, pg_app, officers, replica_conn, primary_conn
):
    """Paused replay makes a read from the replica visible; these must not be."""
    with replay_paused(replica_conn, primary_conn):
        sell("order:9", DAY, "online", ("APL-HN-5KG", 1, 6800))
        assert "order:9" in _csv_sources(_officer(pg_app, officers))  # no DATABASE_REPLICA_URL
        with unreachable_pg_app.app_context():
            unreachable = _officer(unreachable_pg_app, officers)
            assert "order:9" in _csv_sources(unreachable)  # nothing listens there: the primary
            assert "order:9" in _csv_sources(unreachable)  # and again, while it is known to be down
            with reporting() as engine:
                assert engine is db.engine


def test_reads_of_a_requests_own_writes_stay_on_the_primary(
    replica_app, pg_app, officers, replica_conn, primary_conn
):
    api = _officer(replica_app, officers)
    with replay_paused(replica_conn, primary_conn):
        # A page that shows what was just recorded reads it from the primary, not the paused replica.
        r = api.post("/api/v1/aid/offshop-sales", json=_body("FP-REPLICA-1"))
        assert r.status_code == 201, r.json
        r = api.get(f"/api/v1/aid/offshop-sales/{r.json['id']}")
        assert r.status_code == 200 and r.json["evidence_number"] == "FP-REPLICA-1"

        # Another session commits a sale. In a fresh session a report reads the paused replica, without
        # it; once this session has written, its reads (reports too) go to the primary.
        with pg_app.app_context():
            sell("order:9", DAY, "online", ("APL-HN-5KG", 1, 6800))
        db.session.remove()
        with reporting() as engine:
            assert engine is replica_engine()
            assert _count("order:9") == 0
            sell("order:10", DAY, "online", ("APL-HN-5KG", 1, 6800))  # a write in a report block: primary
            assert _count("order:9") == 1 and _count("order:10") == 1
        with reporting() as engine:
            assert engine is db.engine
        db.session.remove()
        with reporting() as engine:
            assert engine is replica_engine()
            assert _count("order:10") == 0


def _count(source: str) -> int:
    return db.session.scalar(select(func.count()).where(AidEntry.source == source))


def test_a_replica_is_for_postgresql_only():
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL"):
        load_settings({"DATABASE_URL": "sqlite:///shop.db", "DATABASE_REPLICA_URL": "postgresql://r/shop"})
    settings = load_settings(
        {
            "SHOP_PROFILE": "test",
            "DATABASE_URL": "postgresql://p/shop",
            "DATABASE_REPLICA_URL": "postgresql://r/shop",
        }
    )
    assert settings.DATABASE_REPLICA_URL == "postgresql+psycopg://r/shop"


def test_on_the_embedded_default_reports_read_the_one_database(sqlite_app):
    with reporting() as engine:
        assert engine is db.engine and replica_engine() is None
