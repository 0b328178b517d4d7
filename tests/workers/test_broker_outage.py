"""Redis dies while orders are placed and paid: orders are accepted and stored, and when Redis returns
every one is dispatched and fulfilled exactly once. A private redis-server is killed, never the shared
one other test runs use."""

from __future__ import annotations

import pytest

from shop.core.db import db
from shop.core.outbox import pending_count
from tests.conftest import create_user, make_app
from tests.workers.fulfilment_support import (
    PrivateRedis,
    Supervised,
    assert_each_fulfilled_once,
    fulfilled,
    wait_until,
)
from tests.workers.support import process_env, start_beat, start_worker

pytestmark = pytest.mark.slow


def _buy(client, token: str, staff_token: str, i: int) -> int:
    order = client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
            "delivery": {"type": "pickup", "location": "DL-HM"},
        },
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"outage-{i}"},
    )
    assert order.status_code == 201, order.json
    paid = client.post(
        f"/api/v1/orders/{order.json['id']}/payments/manual",
        json={"method": "cash"},
        headers={"Authorization": f"Bearer {staff_token}"},
    )
    assert paid.status_code == 200 and paid.json["status"] == "paid", paid.json
    return order.json["id"]


def test_orders_placed_while_redis_is_down_are_fulfilled_once_it_returns(seeded, pg_url, tmp_path):
    broker = PrivateRedis(tmp_path)
    broker.start()
    shop = make_app(pg_url, broker.url, tmp_path / "web")  # the web side, publishing to the private Redis
    env = process_env(
        pg_url,
        broker.url,
        tmp_path,
        BEAT_INTERVAL_SCALE="0.05",
        OUTBOX_STALE_SECONDS="1",
        OUTBOX_REDELIVER_SECONDS="3",
        FULFILMENT_STEP_DELAY_MS="100",
    )
    procs = []
    worker = None
    try:
        worker = Supervised(lambda n: start_worker(env, tmp_path, name=f"worker-{n}"))
        procs.append(start_beat(env, tmp_path))
        with shop.app_context():
            from shop.accounts.services import issue_token

            buyer = create_user("outage-buyer@example.cn")
            staff = create_user("outage-op@example.cn", role="operator", locations=["DL-HM"])
            token, staff_token = issue_token(buyer)[0], issue_token(staff)[0]
            client = shop.test_client()
            before = [_buy(client, token, staff_token, i) for i in range(3)]
            wait_until(
                lambda: fulfilled(before) == 3, timeout=30, what="orders before the outage", procs=procs
            )

            broker.kill()  # Redis gone, with whatever it held
            during = [_buy(client, token, staff_token, i) for i in range(3, 9)]
            db.session.rollback()
            assert pending_count() >= len(during), "the messages wait in the outbox table"
            assert fulfilled(during) == 0

            broker.start()  # same port, empty: nothing it held before survived
            wait_until(
                lambda: fulfilled(during) == len(during),
                timeout=35,
                what="orders after the outage",
                procs=procs,
            )
            assert_each_fulfilled_once(before + during)
            db.session.remove()
    finally:
        for p in procs:
            p.kill()
        if worker is not None:
            worker.kill()
        broker.kill()
        with shop.app_context():
            db.engine.dispose()
