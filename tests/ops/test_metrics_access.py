"""/metrics answers only configured addresses or the metrics token (issue #13, item 12)."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings
from tests.conftest import make_app

TOKEN = "metrics-token-of-sufficient-length-0123"


@pytest.fixture
def metrics_app(app, pg_url, redis_url, tmp_path):
    return make_app(
        pg_url, redis_url, tmp_path, METRICS_ALLOW_FROM="10.8.0.0/16, 127.0.0.1", METRICS_TOKEN=TOKEN
    )


def _get(app, addr: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": addr})


def test_a_stranger_gets_no_metrics(metrics_app):
    r = _get(metrics_app, "203.0.113.9")
    assert r.status_code == 403
    body = r.get_data(as_text=True)
    assert "shop_orders" not in body and "shop_aid" not in body


def test_configured_networks_and_the_token_get_prometheus_text(metrics_app):
    for addr, token in (("10.8.3.4", None), ("127.0.0.1", None), ("203.0.113.9", TOKEN)):
        r = _get(metrics_app, addr, token)
        assert r.status_code == 200, addr
        assert r.content_type.startswith("text/plain") and "version=" in r.content_type
        assert "# HELP shop_orders Orders by status" in r.get_data(as_text=True)


def test_a_wrong_token_is_refused(metrics_app):
    assert _get(metrics_app, "203.0.113.9", TOKEN + "x").status_code == 403


def test_loopback_only_by_default_and_nobody_in_production(app, client):
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 403
    prod = load_settings(
        {
            "SHOP_PROFILE": "production",
            "DATABASE_URL": "postgresql://db/shop",
            "REDIS_URL": "redis://r:6379/0",
            "SECRET_KEY": "s" * 40,
            "SESSION_COOKIE_SECURE": True,
        }
    )
    assert prod.metrics_networks == []


def test_a_bad_address_list_refuses_to_start():
    with pytest.raises(ConfigError, match="METRICS_ALLOW_FROM"):
        load_settings({"METRICS_ALLOW_FROM": "10.0.0.0/33"})
