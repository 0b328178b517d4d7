"""The reliability settings are what docs/workers.md says, and unsafe combinations refuse to start."""

import pytest

from config import ConfigError, load_settings
from config.celery import MAX_BACKOFF_SECONDS, TASK_TIME_LIMIT, VISIBILITY_TIMEOUT_SECONDS, celery_config

PROD = {
    "SHOP_PROFILE": "production",
    "DATABASE_URL": "postgresql://x/y",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "p" * 40,
    "SESSION_COOKIE_SECURE": True,
}


def test_reliability_settings(tmp_path):
    conf = celery_config(load_settings({**PROD, "DATA_DIR": tmp_path}))
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_soft_time_limit"] < conf["task_time_limit"] == TASK_TIME_LIMIT
    assert conf["broker_transport_options"]["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS
    assert VISIBILITY_TIMEOUT_SECONDS > MAX_BACKOFF_SECONDS + TASK_TIME_LIMIT
    assert [q.name for q in conf["task_queues"]] == ["default", "payments", "fulfilment", "reports"]
    routes = conf["task_routes"]
    assert routes["shop.fulfilment.*"] == {"queue": "fulfilment"} and routes["shop.reports.*"] == {
        "queue": "reports"
    }
    tasks = {e["task"] for e in conf["beat_schedule"].values()}
    assert {
        "shop.outbox.sweep",
        "shop.orders.expire_unpaid",
        "shop.payments.sync_stale",
        "shop.reports.stock_alerts",
        "shop.stock.reconcile",
        "shop.reports.hall_summary",
    } <= tasks


def test_every_scheduled_task_exists(app):
    registered = set(app.extensions["celery"].tasks)
    for entry in app.extensions["celery"].conf.beat_schedule.values():
        assert entry["task"] in registered


@pytest.mark.parametrize(
    "override",
    [{"OUTBOX_REDELIVER_SECONDS": MAX_BACKOFF_SECONDS}, {"FULFILMENT_STEP_DELAY_MS": 100}],
)
def test_production_refuses_settings_that_would_run_tasks_twice_or_slow(override, tmp_path):
    with pytest.raises(ConfigError):
        load_settings({**PROD, "DATA_DIR": tmp_path, **override})
