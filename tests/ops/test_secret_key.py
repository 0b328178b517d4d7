"""No deployment signs sessions or tokens with a key from the source (issue #13, item 1)."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from config import ConfigError, load_settings
from shop import create_app
from tests.conftest import IsolatedClient, create_user

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = "embedded-default-not-secret"


def _embedded(data_dir: Path, database_url: str, **extra):
    app = create_app(
        {
            "SHOP_PROFILE": "embedded",
            "DATA_DIR": data_dir,
            "DATABASE_URL": database_url,
            "RATELIMIT_ENABLED": False,
            **extra,
        }
    )
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(autouse=True)
def _no_secret_in_environment(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)


def test_without_secret_key_a_random_one_is_made_kept_private_and_reused(pg_url, tmp_path):
    first = _embedded(tmp_path / "var", pg_url)
    key = first.config["SECRET_KEY"]
    assert key != PUBLISHED and len(key) >= 32
    path = tmp_path / "var" / "secret_key"
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another process of the same installation (a worker, a restart) signs with the same key...
    assert _embedded(tmp_path / "var", pg_url).config["SECRET_KEY"] == key
    # ...another installation with its own.
    assert _embedded(tmp_path / "other", pg_url).config["SECRET_KEY"] != key
    # No key anywhere in the source tree.
    for source in (ROOT / "shop").rglob("*.py"):
        assert key not in source.read_text(encoding="utf-8")


def test_processes_starting_together_agree_on_one_key(tmp_path):
    from config import secret_key

    keys, errors = [], []

    def start():
        try:
            keys.append(secret_key.load_or_create(tmp_path))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(keys) == 16 and len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary files left behind


def test_a_key_file_readable_by_others_is_closed_and_an_empty_one_refused(tmp_path):
    from config import secret_key

    path = tmp_path / "secret_key"
    path.write_text("k" * 40)
    path.chmod(0o644)
    assert secret_key.load_or_create(tmp_path) == "k" * 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short")
    settings = load_settings({"SHOP_PROFILE": "embedded", "DATA_DIR": tmp_path})
    with pytest.raises(ConfigError, match="secret_key"):
        settings.ensure_secret_key()


def test_a_token_signed_with_the_published_key_is_refused(app, pg_url, tmp_path):
    admin = create_user("admin@example.cn", role="admin")
    shop = _embedded(tmp_path / "var", pg_url)
    forged = URLSafeTimedSerializer(PUBLISHED, salt="api-token").dumps({"uid": admin.id, "v": 1})
    r = shop.test_client().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


@pytest.mark.parametrize("profile", ["embedded", "test", "production"])
def test_the_published_key_is_refused_in_every_profile(profile):
    cfg = {
        "SHOP_PROFILE": profile,
        "SECRET_KEY": PUBLISHED,
        "DATABASE_URL": "postgresql://db/shop",
        "REDIS_URL": "redis://r:6379/0",
        "SESSION_COOKIE_SECURE": True,
    }
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(cfg)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    cfg = {
        "SHOP_PROFILE": "production",
        "DATABASE_URL": "postgresql://db/shop",
        "REDIS_URL": "redis://r:6379/0",
        "SESSION_COOKIE_SECURE": True,
        "DATA_DIR": tmp_path,
    }
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(cfg)
    assert not (tmp_path / "secret_key").exists()  # production never falls back to a key file
