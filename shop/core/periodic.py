"""Run-once guard for periodic jobs.

Beat may run twice by mistake (two machines, a restart overlap) and brokers may redeliver, so each
periodic task first claims its period: a conditional UPDATE that succeeds only if the job has not run in
the last 90% of its interval. The database decides atomically, on PostgreSQL and SQLite alike, so at most
one claimant per period does the work. ``claim_period`` is what a scheduled task calls first; the
period is the task's beat interval (``config/celery.py``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from config.celery import beat_interval
from shop.core.db import atomic, db, utcnow
from shop.core.models import PeriodicRun

log = logging.getLogger(__name__)
EPOCH_SLACK = 0.9


def claim_period(task_name: str) -> bool:
    """Claim this run of a scheduled task; False when another scheduler already ran it this period."""
    every = beat_interval(task_name, current_app.extensions["settings"])
    if every <= 0:
        return True
    if claim_run(task_name, every):
        return True
    log.info("%s already ran this period; skipping", task_name)
    return False


def claim_run(name: str, every_seconds: float) -> bool:
    """Return True (and record the run) if ``name`` has not run within 90% of ``every_seconds``."""
    now = utcnow()
    with atomic():
        insert = (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(
            PeriodicRun.__table__
        )
        db.session.execute(
            insert.values(name=name, last_run_at=now - timedelta(days=3650), runs=0).on_conflict_do_nothing(
                index_elements=["name"]
            )
        )
        res = db.session.execute(
            update(PeriodicRun)
            .where(
                PeriodicRun.name == name,
                PeriodicRun.last_run_at <= now - timedelta(seconds=every_seconds * EPOCH_SLACK),
            )
            .values(last_run_at=now, runs=PeriodicRun.runs + 1)
        )
        return res.rowcount == 1


def last_runs() -> dict[str, PeriodicRun]:
    return {r.name: r for r in db.session.scalars(select(PeriodicRun))}
