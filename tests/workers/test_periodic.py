import threading
import time

from sqlalchemy import select

from shop.core.db import db
from shop.core.models import PeriodicRun
from shop.core.periodic import claim_run
from tests.workers.support import process_env, start_beat, start_worker


def test_claim_run_once_per_period(any_app):
    assert claim_run("job", 60) is True
    assert claim_run("job", 60) is False
    assert claim_run("other", 60) is True


def test_concurrent_claims_only_one_wins(any_app):
    app = any_app
    wins = []

    def claim():
        with app.app_context():
            try:
                wins.append(claim_run("race", 60))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_two_beat_processes_run_a_periodic_job_once_per_period(app, pg_url, redis_url, tmp_path):
    """Real Redis broker, a real worker and two beat schedulers: the sweep runs once per period."""
    scale = 0.05  # the 30 s outbox sweep fires every 1.5 s
    env = process_env(pg_url, redis_url, tmp_path, BEAT_INTERVAL_SCALE=str(scale))
    worker = start_worker(env, tmp_path)
    beats = []
    started = time.time()  # before the first scheduler starts, so every run falls inside `elapsed`
    try:
        beats = [start_beat(env, tmp_path, "beat-a"), start_beat(env, tmp_path, "beat-b")]
        time.sleep(9)
        for b in beats:
            b.kill()
        elapsed = time.time() - started
        time.sleep(2)  # let the worker finish what the beats sent
    finally:
        for b in beats:
            b.kill()
        worker.kill()
    sent = sum(b.output().count("Scheduler: Sending due task outbox-sweep") for b in beats)
    db.session.rollback()
    run = db.session.scalar(select(PeriodicRun).where(PeriodicRun.name == "shop.outbox.sweep"))
    interval = 30 * scale
    assert sent >= 8, "both beats should have fired repeatedly"
    assert run is not None and run.runs >= 2
    # At most one run per 90% of the interval, however many schedulers fire (+1 for the first run and +1
    # for a run the worker finished after the beats stopped).
    assert run.runs <= int(elapsed / (0.9 * interval)) + 2
    assert run.runs < sent
    assert "already ran this period" in worker.output()
