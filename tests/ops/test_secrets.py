"""No secret, password or token ends up in logs or error bodies; production refuses weak settings."""

import logging

import pytest

from config import ConfigError, load_settings
from tests.conftest import create_user


def test_tokens_and_passwords_never_reach_logs_or_error_bodies(seeded, client, caplog):
    create_user("buyer@example.cn")
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/v1/auth/token", json={"email": "buyer@example.cn", "password": "password-123"})
    token = r.json["access_token"]
    bad = client.post("/api/v1/auth/token", json={"email": "buyer@example.cn", "password": "wrong-secret-pw"})
    assert bad.status_code == 401
    forged = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}x"})
    assert forged.status_code == 401
    body = {
        "lines": [{"sku": "APL-HN-5KG", "quantity": 0}],
        "delivery": {"type": "pickup", "location": "DL-HM"},
    }
    invalid = client.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {token}"})
    assert invalid.status_code == 422
    for resp in (bad, forged, invalid):
        text = resp.get_data(as_text=True)
        assert token not in text and "wrong-secret-pw" not in text and "password-123" not in text
    logs = "\n".join(rec.getMessage() for rec in caplog.records)
    assert token not in logs and "wrong-secret-pw" not in logs and "password-123" not in logs


PROD = {
    "SHOP_PROFILE": "production",
    "DATABASE_URL": "postgresql://db/shop",
    "REDIS_URL": "redis://r:6379/0",
    "SECRET_KEY": "s" * 40,
    "SESSION_COOKIE_SECURE": True,
}


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": "sk_live_x"}, "STRIPE_WEBHOOK_SECRET"),
        ({"PAYMENT_GATEWAY": "stripe", "STRIPE_WEBHOOK_SECRET": "whsec_x"}, "STRIPE_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_without_safe_settings(override, complaint):
    with pytest.raises(ConfigError, match=complaint):
        load_settings({**PROD, **override})


def test_production_with_safe_settings_loads():
    settings = load_settings(PROD)
    assert settings.SESSION_COOKIE_SECURE and settings.LOG_FORMAT == "json"
