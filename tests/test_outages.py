"""Outages with real servers stopped and started by the test: a private PostgreSQL cluster and a private
Redis server on their own ports (the shared ones stay up for the rest of the suite)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from sqlalchemy import func, select

from shop.core.db import atomic, db
from tests.conftest import create_user, make_app, migrate


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PrivatePostgres:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            pytest.fail("PostgreSQL server binaries are not installed (scripts/services.sh installs them)")
        self.bin = bins[-1]
        self.dir = tempfile.mkdtemp(prefix="shop-pg-", dir="/tmp")
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:  # PostgreSQL refuses to run as root
            pg = pwd.getpwnam("postgres")
            os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        self._run("initdb", "-D", self.dir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [os.path.join(self.bin, tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.dir, "-o", opts, "-l", f"{self.dir}/log", "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.dir, "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        self.port = _free_port()
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def test_database_outage_is_503_and_recovers_by_itself(redis_url, tmp_path):
    pg = PrivatePostgres()
    try:
        app = make_app(pg.url, redis_url, tmp_path)
        migrate(app)
        with app.app_context():
            from shop.demo import seed_demo

            with atomic():
                seed_demo()
            db.session.remove()
        client = app.test_client()
        assert client.get("/api/v1/products").status_code == 200

        pg.stop()
        for path in ("/api/v1/products", "/api/v1/products/1", "/readyz"):
            r = client.get(path)
            assert r.status_code == 503, (path, r.status_code, r.data[:200])
            assert r.content_type == "application/problem+json"
        r = client.post("/api/v1/auth/token", json={"email": "a@b.cn", "password": "whatever-1"})
        assert r.status_code == 503 and r.content_type == "application/problem+json"
        assert client.get("/healthz").status_code == 200  # the process itself is alive

        pg.start()
        assert client.get("/api/v1/products").status_code == 200
        assert client.get("/readyz").status_code == 200
        with app.app_context():
            db.engine.dispose()
    finally:
        pg.destroy()


def test_redis_outage_orders_still_accepted_and_dispatched_when_it_returns(app, pg_url, tmp_path):
    from shop.core.models import OutboxMessage
    from shop.core.outbox import relay
    from shop.demo import seed_demo

    with atomic():
        seed_demo()
    create_user("buyer@example.cn")
    create_user("admin@example.cn", role="admin")
    redis = PrivateRedis()
    try:
        shop = make_app(pg_url, redis.url, tmp_path, RATELIMIT_ENABLED=True)
        client = shop.test_client()
        tokens = {}
        for email in ("buyer@example.cn", "admin@example.cn"):
            r = client.post("/api/v1/auth/token", json={"email": email, "password": "password-123"})
            tokens[email] = {"Authorization": f"Bearer {r.json['access_token']}"}

        redis.stop()
        body = {
            "lines": [{"sku": "APL-HN-5KG", "quantity": 2}],
            "delivery": {"type": "pickup", "location": "DL-HM"},
        }
        r = client.post("/api/v1/orders", json=body, headers=tokens["buyer@example.cn"])
        assert r.status_code == 201, r.json
        order_id = r.json["id"]
        r = client.post(
            f"/api/v1/orders/{order_id}/payments/manual",
            json={"method": "cash"},
            headers=tokens["admin@example.cn"],
        )
        assert r.status_code == 200, r.json
        assert r.json["status"] == "paid"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["checks"]["database"] == "ok"
        assert ready.json["checks"]["broker"] != "ok"

        db.session.rollback()
        pending = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))))
        assert any(m.task == "shop.fulfilment.fulfil_order" for m in pending)
        # The first publish failed; the rest were left to the sweep without waiting on the dead broker
        # (OUTBOX_BROKER_PAUSE_SECONDS).
        assert any(m.attempts >= 1 and m.last_error for m in pending)

        redis.start()
        with shop.app_context():
            assert relay(older_than_seconds=0) == len(pending)
            db.session.remove()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
        import redis as redis_lib

        queued = redis_lib.Redis.from_url(redis.url).llen("fulfilment")
        assert queued >= 1
        with shop.app_context():
            db.engine.dispose()
    finally:
        redis.stop()
