"""The embedded default: SQLite file and kombu's file-system broker, which loses the messages a killed
worker had taken (it deletes each file as it reads it). The outbox sweep sends them again: every paid
order is still fulfilled exactly once."""

from __future__ import annotations

import time

import pytest

from shop.core.db import atomic
from shop.demo import seed_demo
from tests.fulfilment.helpers import operator, paid_order
from tests.orders.helpers import buyer
from tests.workers.fulfilment_support import (
    assert_each_fulfilled_once,
    fulfilled,
    picked,
    sent_unfinished,
    wait_until,
)
from tests.workers.support import process_env, start_beat, start_worker

pytestmark = pytest.mark.slow


def test_file_broker_worker_killed_mid_batch_every_order_fulfilled_once(sqlite_app, tmp_path):
    settings = sqlite_app.extensions["settings"]
    assert settings.CELERY_BROKER_URL == "filesystem://" and settings.is_sqlite
    with atomic():
        seed_demo()
    staff = operator()
    ids = [paid_order(buyer(f"emb{i}@example.cn"), staff, lines=[("CHL-LINE-500G", 1)]) for i in range(10)]
    assert len(list((settings.broker_folder / "out").glob("*.fulfilment.msg"))) == len(ids)

    def taken() -> int:
        """Fulfilment messages published, gone from the broker folder, not completed: held by a worker."""
        waiting = len(list((settings.broker_folder / "out").glob("*.fulfilment.msg")))
        return sent_unfinished("shop.fulfilment.") - waiting

    def held_steadily() -> bool:
        """The worker holds a message now and still 0.2 s later: it is inside a step, not between two."""
        if taken() < 1:
            return False
        time.sleep(0.2)
        return taken() >= 1

    chaos = {"BEAT_INTERVAL_SCALE": "0.05", "OUTBOX_STALE_SECONDS": "1", "OUTBOX_REDELIVER_SECONDS": "3"}
    # The first worker holds each step 3 s, so the kill lands inside one (between two steps it spends a few
    # milliseconds committing and publishing); the second is quick.
    slow = process_env(
        settings.DATABASE_URL, "filesystem://", tmp_path, FULFILMENT_STEP_DELAY_MS="3000", **chaos
    )
    quick = process_env(
        settings.DATABASE_URL, "filesystem://", tmp_path, FULFILMENT_STEP_DELAY_MS="50", **chaos
    )
    procs = []
    try:
        first = start_worker(slow, tmp_path, name="doomed")
        procs.append(first)
        wait_until(
            lambda: picked(ids) >= 1 and held_steadily(), timeout=30, what="a batch in progress", procs=procs
        )
        first.kill()
        assert fulfilled(ids) < len(ids), "the kill must land before the batch is done"
        assert taken() >= 1, "the file broker lost the messages the dead worker had taken"

        procs.append(start_worker(quick, tmp_path, name="restarted"))
        procs.append(start_beat(quick, tmp_path))
        wait_until(lambda: fulfilled(ids) == len(ids), timeout=35, what="every order fulfilled", procs=procs)
    finally:
        for p in procs:
            p.kill()
    assert_each_fulfilled_once(ids)
    restarted = procs[1].output()
    assert "sent but never completed; sending it again" in restarted  # the sweep, not luck, saved them
