import socket

from tests.conftest import make_app


def test_healthz(app, client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_readyz_ok_with_database_and_redis(app, client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["checks"] == {"database": "ok", "broker": "ok"}


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_readyz_503_when_database_points_nowhere(tmp_path, redis_url):
    port = _free_port()
    a = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere", redis_url, tmp_path)
    r = a.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.content_type == "application/problem+json"
    assert r.json["checks"]["database"] != "ok" and r.json["checks"]["broker"] == "ok"


def test_readyz_503_when_broker_points_nowhere(pg_url, tmp_path):
    port = _free_port()
    a = make_app(pg_url, f"redis://127.0.0.1:{port}/0", tmp_path)
    r = a.test_client().get("/readyz")
    assert r.status_code == 503 and r.json["checks"]["broker"] != "ok"


def test_api_answers_503_problem_when_database_is_down(tmp_path, redis_url):
    port = _free_port()
    a = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere", redis_url, tmp_path)
    r = a.test_client().get("/api/v1/products")
    assert r.status_code == 503 and r.content_type == "application/problem+json"


def test_metrics_are_prometheus_text(app, client):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    assert b"# HELP" in r.data


def test_security_headers(app, client):
    r = client.get("/healthz")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
