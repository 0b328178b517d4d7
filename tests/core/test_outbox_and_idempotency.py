import json
import threading

import pytest
from celery import shared_task
from flask import jsonify
from sqlalchemy import func, select

from shop.catalog.models import Category
from shop.core.db import atomic, db
from shop.core.idempotency import idempotent
from shop.core.models import IdempotencyRecord, OutboxMessage
from shop.core.outbox import enqueue, pending_count, relay, sweep

CALLS: list[dict] = []


@shared_task(name="tests.record_call")
def record_call_task(**payload):
    CALLS.append(payload)


def test_enqueue_outside_unit_of_work_is_refused(app):
    with pytest.raises(RuntimeError):
        enqueue("tests.record_call", {})


def test_message_written_with_state_change_and_relayed_after_commit(app, monkeypatch):
    sent = []
    celery_app = app.extensions["celery"]
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, kwargs, queue, **kw: sent.append((name, kwargs, queue))
    )
    with atomic():
        db.session.add(Category(code="c", name_zh="c", name_en="c"))
        enqueue("tests.record_call", {"n": 1}, queue="reports")
        assert sent == []  # nothing leaves before the commit
    assert sent == [("tests.record_call", {"n": 1}, "reports")]
    assert pending_count() == 0


def test_rolled_back_transaction_sends_nothing(app, monkeypatch):
    sent = []
    monkeypatch.setattr(app.extensions["celery"], "send_task", lambda *a, **k: sent.append(a))
    with pytest.raises(RuntimeError), atomic():
        enqueue("tests.record_call", {"n": 1})
        raise RuntimeError("use case failed")
    assert sent == [] and db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_broker_outage_keeps_message_for_the_sweep(app, pg_url, tmp_path):
    """With Redis unreachable the commit still succeeds; the sweep sends the message once it is back."""
    from tests.conftest import make_app

    down = make_app(pg_url, "redis://127.0.0.1:1/0", tmp_path)  # nothing listens on port 1
    down.extensions["celery"].conf.broker_connection_max_retries = 0
    down.extensions["celery"].conf.broker_transport_options = {"max_retries": 0}
    with down.app_context():
        with atomic():
            enqueue("tests.record_call", {"n": 2})
        assert pending_count() == 1
        msg = db.session.scalar(select(OutboxMessage))
        assert msg.attempts == 1 and msg.last_error
        db.session.remove()
        db.engine.dispose()
    db.session.rollback()
    # Broker back (the app that can reach Redis): the sweep publishes it.
    assert relay(older_than_seconds=0) == 1
    assert pending_count() == 0
    import redis

    client = redis.Redis.from_url(app.extensions["celery"].conf.broker_url)
    raw = client.lrange("default", 0, -1)
    assert any(json.loads(m)["headers"]["task"] == "tests.record_call" for m in raw)
    client.delete("default")
    assert sweep() == 0


def test_inline_delivery_runs_the_task_after_commit(app):
    settings = app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    CALLS.clear()
    try:
        with atomic():
            enqueue("tests.record_call", {"n": 3})
            assert CALLS == []
        assert CALLS == [{"n": 3}]
    finally:
        settings.OUTBOX_DELIVERY = "celery"


# -- Idempotency-Key ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _idem_app(pg_url, redis_url, tmp_path_factory):
    """A separate app with a test-only create endpoint registered before it serves any request."""
    from tests.conftest import make_app

    a = make_app(pg_url, redis_url, tmp_path_factory.mktemp("idem"))

    @idempotent
    def idem_create():
        from flask import request

        body = request.get_json()
        with atomic():
            cat = Category(code=body["code"], name_zh="x", name_en="x")
            db.session.add(cat)
            db.session.flush()
            if body.get("fail"):
                from shop.core.errors import Conflict

                raise Conflict("refused")
        return jsonify(id=cat.id, code=cat.code), 201

    a.add_url_rule("/api/v1/_test/idem", "idem_create", idem_create, methods=["POST"])
    yield a
    with a.app_context():
        db.engine.dispose()


@pytest.fixture
def idem_app(app, _idem_app):
    return _idem_app


def _count():
    return db.session.scalar(select(func.count()).select_from(Category))


def test_retry_with_same_key_returns_first_answer(idem_app):
    c = idem_app.test_client()
    h = {"Idempotency-Key": "k-1"}
    r1 = c.post("/api/v1/_test/idem", json={"code": "a"}, headers=h)
    r2 = c.post("/api/v1/_test/idem", json={"code": "a"}, headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.json == r2.json and r2.headers["Idempotent-Replayed"] == "true"
    assert _count() == 1


def test_same_key_other_body_is_refused(idem_app):
    c = idem_app.test_client()
    h = {"Idempotency-Key": "k-2"}
    assert c.post("/api/v1/_test/idem", json={"code": "a"}, headers=h).status_code == 201
    r = c.post("/api/v1/_test/idem", json={"code": "b"}, headers=h)
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert _count() == 1


def test_failed_request_records_nothing_and_can_be_retried(idem_app):
    c = idem_app.test_client()
    h = {"Idempotency-Key": "k-3"}
    assert c.post("/api/v1/_test/idem", json={"code": "a", "fail": True}, headers=h).status_code == 409
    assert _count() == 0 and db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_bad_key_is_422(idem_app):
    c = idem_app.test_client()
    r = c.post("/api/v1/_test/idem", json={"code": "a"}, headers={"Idempotency-Key": "x" * 201})
    assert r.status_code == 422 and _count() == 0


def test_concurrent_duplicates_create_once(idem_app):
    results = []

    def post():
        c = idem_app.test_client()
        r = c.post("/api/v1/_test/idem", json={"code": "same"}, headers={"Idempotency-Key": "k-race"})
        results.append((r.status_code, r.json))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in results} == {201}
    assert len({json.dumps(b, sort_keys=True) for _, b in results}) == 1
    assert _count() == 1
