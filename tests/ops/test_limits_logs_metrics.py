import json
import logging

import pytest

from shop.core.db import atomic
from tests.conftest import make_app


@pytest.fixture
def limited_app(app, pg_url, redis_url, tmp_path):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    a = make_app(pg_url, redis_url, tmp_path, RATELIMIT_ENABLED=True, RATE_LIMIT_AUTH="3/minute")
    yield a
    from shop.core.db import db

    with a.app_context():
        db.engine.dispose()


def test_token_endpoint_is_rate_limited_with_problem_json(limited_app):
    c = limited_app.test_client()
    body = {"email": "nobody@example.cn", "password": "whatever-1"}
    statuses = [c.post("/api/v1/auth/token", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    r = c.post("/api/v1/auth/token", json=body)
    assert r.status_code == 429
    assert r.content_type == "application/problem+json"
    assert int(r.headers["Retry-After"]) > 0


def test_limits_are_shared_through_redis_across_processes(limited_app, pg_url, redis_url, tmp_path):
    other = make_app(pg_url, redis_url, tmp_path / "b", RATELIMIT_ENABLED=True, RATE_LIMIT_AUTH="3/minute")
    body = {"email": "x@example.cn", "password": "pw-123456"}
    for _ in range(3):
        limited_app.test_client().post("/api/v1/auth/token", json=body)
    assert other.test_client().post("/api/v1/auth/token", json=body).status_code == 429


def test_limits_still_apply_in_memory_when_redis_is_down(app, pg_url, tmp_path):
    a = make_app(
        pg_url, "redis://127.0.0.1:1/0", tmp_path, RATELIMIT_ENABLED=True, RATE_LIMIT_AUTH="2/minute"
    )
    c = a.test_client()
    body = {"email": "x@example.cn", "password": "pw-123456"}
    assert [c.post("/api/v1/auth/token", json=body).status_code for _ in range(2)] == [401, 401]
    assert c.post("/api/v1/auth/token", json=body).status_code == 429


def test_request_id_is_echoed_and_generated(app, client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    r = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["X-Request-ID"] != "bad id with spaces" and len(r.headers["X-Request-ID"]) == 32


def test_json_logs_carry_the_request_id_into_tasks(app, capsys):
    from celery import shared_task

    from shop.core.logging import configure_logging, request_id_var
    from shop.core.outbox import enqueue

    @shared_task(name="tests.log_something")
    def log_something_task():
        logging.getLogger("tests.task").warning("task ran")

    configure_logging("json", "INFO")
    settings = app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    token = request_id_var.set("req-42")
    try:
        with atomic():
            enqueue("tests.log_something", {})
    finally:
        request_id_var.reset(token)
        settings.OUTBOX_DELIVERY = "celery"
        configure_logging("text", "INFO")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    ran = [rec for rec in lines if rec.get("message") == "task ran"]
    assert ran and ran[0]["request_id"] == "req-42" and ran[0]["level"] == "WARNING"


def test_metrics_include_latency_outbox_and_aid(seeded, client):
    client.get("/api/v1/products")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'shop_http_request_duration_seconds_count{endpoint="/api/v1/products",method="GET",status="200"}'
        in text
    )
    assert 'shop_outbox_messages{measure="pending"} 0.0' in text
    assert "shop_aid_qualifying_total_fen{" in text
    assert 'shop_queue_depth{queue="payments"}' in text
    assert "# HELP shop_orders Orders by status" in text


def test_api_refuses_non_json_bodies(app, client):
    r = client.post("/api/v1/auth/token", data="email=a", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.content_type == "application/problem+json"


def test_oversized_body_is_413_problem(app, client):
    r = client.post("/api/v1/auth/register", data="x" * (1024 * 1024 + 10), content_type="application/json")
    assert r.status_code == 413 and r.content_type == "application/problem+json"


def test_failure_throttle_counts_in_redis_and_in_memory_when_redis_is_down(redis_url):
    from shop.core.limits import FailureThrottle

    shared = [FailureThrottle("codes", "2/minute", redis_url) for _ in range(2)]  # two web processes
    shared[0].failed("DL-HM", "7")
    shared[1].failed("DL-HM", "7")
    assert shared[0].retry_after("DL-HM", "7") > 0 and shared[1].retry_after("DL-HM", "7") > 0
    assert shared[0].retry_after("DL-HM", "8") == 0 and shared[0].retry_after("DL-WX", "7") == 0

    down = FailureThrottle(
        "codes", "2/minute", "redis://127.0.0.1:1/0", {"socket_connect_timeout": 1, "socket_timeout": 1}
    )
    tries = []
    real = down._primary

    class Counting:
        def __getattr__(self, name):
            tries.append(name)
            return getattr(real, name)

    down._primary = Counting()
    assert down.retry_after("DL-HM", "7") == 0
    down.failed("DL-HM", "7")
    down.failed("DL-HM", "7")
    assert down.retry_after("DL-HM", "7") > 0  # still refusing, counted per process
    assert tries == ["test"]  # the dead server was tried once, then left alone for the backoff
