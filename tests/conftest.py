"""Test fixtures: a throwaway PostgreSQL database per pytest worker, migrated with Alembic; real Redis.

Nothing here mocks the database or Redis. When either server cannot be reached the run fails loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from sqlalchemy import text

ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
RUN_ID = os.environ.get("TEST_RUN_ID") or uuid.uuid4().hex[:8]


def _worker_index(config) -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(wid.removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def pg_url(request) -> Iterator[str]:
    """Create this worker's database; drop it when the session ends."""
    name = f"shop_test_{RUN_ID}_{_worker_index(request.config)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.exit(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", returncode=3)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def redis_url(request) -> str:
    # Separate Redis databases per pytest worker (and per concurrent run via TEST_REDIS_DB_BASE).
    base = int(os.environ.get("TEST_REDIS_DB_BASE", "1"))
    url = f"{REDIS_BASE}/{base + _worker_index(request.config)}"
    try:
        client = redis_lib.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.flushdb()
    except redis_lib.RedisError as exc:
        pytest.exit(f"Redis is not reachable at {url}: {exc}", returncode=3)
    return url


class IsolatedClient(FlaskClient):
    """A test client whose requests each get their own app context and database session, as in production.

    The test's own session (in the fixture's app context) ends its transaction around each request so
    the test then reads what the request committed.
    """

    def open(self, *args, **kwargs):
        from flask.globals import _cv_app

        from shop.core.db import db

        outer = _cv_app.get(None)
        if outer is not None:
            db.session.rollback()
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)
            if outer is not None:
                db.session.rollback()


def make_app(database_url: str, redis_url: str | None, data_dir: Path, **extra):
    from shop import create_app

    cfg = {
        "SHOP_PROFILE": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url or "",
        "DATA_DIR": data_dir,
        "SECRET_KEY": "test-secret-key-of-sufficient-length-123456",
        # Limits are tested by their own apps (tests/ops/test_limits.py); elsewhere they would make
        # results depend on how many requests earlier tests sent within the minute.
        "RATELIMIT_ENABLED": False,
        **extra,
    }
    app = create_app(cfg)
    app.test_client_class = IsolatedClient
    return app


def migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


ALL_TABLES_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
)


def truncate_all(app) -> None:
    from shop.core.db import db

    # What the app's process caches kept belongs to the rows about to go (ids restart).
    app.extensions.pop("order_catalogue", None)
    app.extensions.pop("auth_cache", None)

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            names = [r[0] for r in db.session.execute(text(ALL_TABLES_SQL))]
            if names:
                db.session.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            db.session.execute(text("PRAGMA foreign_keys=OFF"))
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.execute(text("PRAGMA foreign_keys=ON"))
        db.session.commit()
        db.session.remove()


@pytest.fixture(scope="session")
def pg_app(pg_url, redis_url, tmp_path_factory):
    app = make_app(pg_url, redis_url, tmp_path_factory.mktemp("pgdata"))
    migrate(app)
    yield app
    from shop.core.db import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(pg_app, redis_url):
    """The app on PostgreSQL with empty tables (and an empty Redis database: no cache leaks across tests)."""
    truncate_all(pg_app)
    redis_lib.Redis.from_url(redis_url).flushdb()
    with pg_app.app_context():
        yield pg_app
    from shop.core.db import db

    with pg_app.app_context():
        db.session.remove()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file; tests copy it instead of migrating again."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "shop.db"
    a = make_app(f"sqlite:///{path}", None, folder)
    migrate(a)
    from shop.core.db import db

    with a.app_context():
        db.engine.dispose()
    return path


@pytest.fixture
def sqlite_app(sqlite_template, tmp_path):
    """The app on the embedded SQLite default (WAL, BEGIN IMMEDIATE), with empty tables."""
    import shutil

    target = tmp_path / "shop.db"
    shutil.copy(sqlite_template, target)
    a = make_app(f"sqlite:///{target}", None, tmp_path)
    with a.app_context():
        yield a
    from shop.core.db import db

    with a.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_app(request):
    """Run the test on PostgreSQL and on the embedded SQLite default."""
    return request.getfixturevalue("app" if request.param == "postgresql" else "sqlite_app")


@pytest.fixture
def seeded(app):
    from shop.core.db import atomic
    from shop.demo import seed_demo

    with atomic():
        seed_demo()
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client):
    return ApiClient(client)


class ApiClient:
    """A thin JSON client that keeps a bearer token."""

    def __init__(self, client, token: str | None = None):
        self.client = client
        self.token = token

    def _headers(self, headers):
        h = dict(headers or {})
        if self.token:
            h.setdefault("Authorization", f"Bearer {self.token}")
        return h

    def get(self, url, headers=None, **kw):
        return self.client.get(url, headers=self._headers(headers), **kw)

    def post(self, url, json=None, headers=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(headers), **kw)

    def as_user(self, email: str, password: str = "password-123") -> ApiClient:
        r = self.client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.json
        return ApiClient(self.client, r.json["access_token"])


def create_user(
    email: str, role: str = "customer", locations: list[str] | None = None, password: str = "password-123"
):
    from shop.accounts.services import create_staff_user
    from shop.core.db import atomic

    with atomic():
        return create_staff_user(email=email, password=password, role=role, location_codes=locations or [])


def sign_in_session(client, user) -> None:
    """Sign ``user`` in on ``client`` as the sign-in form does, without spending its rate limits.

    A web session names the account's token version and carries a session id and its start
    (shop.accounts.sessions); a bare ``_user_id`` in the session is refused.
    """
    import secrets

    from shop.accounts import sessions
    from shop.core import clock

    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
        sess[sessions.SID] = secrets.token_urlsafe(16)
        sess[sessions.SID_BEGAN] = int(clock.now().timestamp())


# The API fuzz runs take minutes each: collected first, each starts on a test worker of its own at once and
# overlaps the rest of the suite, instead of running alone at the end (pytest-xdist hands out whole files in
# collection order with --dist loadfile).
LONG_FIRST = ("tests/test_api_fuzz.py", "tests/test_api_fuzz_hostile.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: 0 if item.nodeid.split("::")[0] in LONG_FIRST else 1)
