"""Demo staff get random passwords printed once; `make run` seeds nothing on a production profile."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect

from shop.core.db import db
from tests.conftest import ADMIN_URL, make_app

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"demo (\w+)\s+(\S+@demo\.gangu\.local) / (\S+)")


@pytest.fixture
def embedded_app(sqlite_template, tmp_path):
    target = tmp_path / "shop.db"
    shutil.copy(sqlite_template, target)
    a = make_app(f"sqlite:///{target}", None, tmp_path, SHOP_PROFILE="embedded")
    with a.app_context():
        yield a
        db.session.remove()
        db.engine.dispose()


def test_demo_staff_get_random_passwords_printed_only_when_made(embedded_app):
    runner = embedded_app.test_cli_runner()
    assert runner.invoke(args=["seed"]).exit_code == 0
    first = runner.invoke(args=["users", "ensure-demo-staff"])
    assert first.exit_code == 0, first.output
    logins = {email: password for _, email, password in LINE.findall(first.output)}
    assert len(logins) == 4 and len(set(logins.values())) == 4
    assert all(len(p) >= 16 and "demo-" not in p for p in logins.values())
    client = embedded_app.test_client()
    ok = client.post(
        "/api/v1/auth/token",
        json={"email": "admin@demo.gangu.local", "password": logins["admin@demo.gangu.local"]},
    )
    assert ok.status_code == 200
    old = client.post(
        "/api/v1/auth/token", json={"email": "admin@demo.gangu.local", "password": "demo-admin-pass"}
    )
    assert old.status_code == 401  # the password that used to be in the source opens nothing
    again = runner.invoke(args=["users", "ensure-demo-staff"])
    assert again.exit_code == 0 and not LINE.findall(again.output)
    assert all(p not in again.output for p in logins.values())


def test_demo_staff_are_refused_outside_the_embedded_profile(sqlite_app):
    r = sqlite_app.test_cli_runner().invoke(args=["users", "ensure-demo-staff"])
    assert r.exit_code != 0 and "embedded" in r.output


@pytest.mark.slow
def test_make_run_on_a_production_profile_refuses_before_touching_the_database(pg_url, redis_url, tmp_path):
    name = pg_url.rsplit("/", 1)[1] + "_run"
    admin = psycopg.connect(ADMIN_URL, autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
        env.update(
            SHOP_PROFILE="production",
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            SECRET_KEY="p" * 48,
            SESSION_COOKIE_SECURE="true",
            DATA_DIR=str(tmp_path / "var"),
            PORT="1",
        )
        r = subprocess.run(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert r.returncode != 0
        assert "production" in r.stderr and "docs/operations.md" in r.stderr
        app = make_app(url.replace("postgresql://", "postgresql+psycopg://"), redis_url, tmp_path)
        with app.app_context():
            assert inspect(db.engine).get_table_names() == []  # not migrated, not seeded
            db.engine.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
