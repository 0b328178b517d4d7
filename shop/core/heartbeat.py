"""Workers' heartbeats: how the outbox sweep tells a dead worker from a busy one.

A Celery worker writes a row in ``worker_heartbeat`` (its hostname, pid and the time) when it is ready and
every ``WORKER_HEARTBEAT_SECONDS`` after, from a thread in its main process; it deletes the row when it
stops cleanly. The same thread records the worker's hostname on each outbox message the worker takes
from the broker, within moments of taking it (``held``: prefetched messages wait in the worker before a
pool process starts them), and each task records it again as it starts (``shop.core.outbox.mark_seen``). A message held by a worker whose heartbeat stopped for
``WORKER_DEAD_AFTER_SECONDS`` was lost with it, and the sweep sends it again at once
(``shop.core.outbox.redeliver_from_dead_workers``), instead of after ``OUTBOX_REDELIVER_SECONDS``.

The beat uses its own engine without a pool: the worker's main process forks pool processes after it is
ready, and a pooled database connection must never be shared with a forked child.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy import URL, Engine, create_engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import NullPool

from shop.core.db import configure_engine, utcnow
from shop.core.models import OutboxMessage, WorkerHeartbeat
from shop.core.outbox import unlocked

log = logging.getLogger(__name__)
TABLE = WorkerHeartbeat.__table__
CLAIM_GATHER_SECONDS = 0.02


def beat(engine: Engine, hostname: str, *, pid: int) -> None:
    """Record that ``hostname`` is alive now (insert or update its row)."""
    now = utcnow()
    insert = (pg_insert if engine.dialect.name == "postgresql" else sqlite_insert)(TABLE)
    stmt = insert.values(hostname=hostname, pid=pid, started_at=now, beat_at=now).on_conflict_do_update(
        index_elements=["hostname"], set_={"beat_at": now, "pid": pid}
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def claim(engine: Engine, hostname: str, outbox_ids: list[int]) -> list[int]:
    """Record that ``hostname`` holds these outbox messages (taken from the broker, maybe not started).

    A message another transaction holds locked now (a fulfilment batch doing its work, a step writing
    its completion) is not waited for: return those still open, to record at the next turn.
    """
    with engine.begin() as conn:
        done = set(
            conn.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(unlocked(outbox_ids)), OutboxMessage.completed_at.is_(None))
                .values(seen_by=hostname[:200], seen_at=utcnow())
                .returning(OutboxMessage.id)
            )
        )
        rest = [i for i in outbox_ids if i not in done]
        if not rest:
            return []
        return list(
            conn.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.id.in_(rest), OutboxMessage.completed_at.is_(None)
                )
            )
        )


def forget(engine: Engine, hostname: str) -> None:
    """The worker stopped cleanly: whatever it still held is sent again by the next sweep."""
    with engine.begin() as conn:
        conn.execute(delete(TABLE).where(TABLE.c.hostname == hostname))


class Heartbeat:
    """The thread that keeps one worker's heartbeat (started when the worker is ready)."""

    def __init__(self, database_url: str | URL, hostname: str, every_seconds: float):
        self.hostname = hostname
        self.every = every_seconds
        self.pid = os.getpid()
        self.engine = create_engine(database_url, poolclass=NullPool)
        configure_engine(self.engine)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="shop-heartbeat", daemon=True)

    def held(self, outbox_id: int) -> None:
        """The worker took this message from the broker (called by Celery's ``task_received``)."""
        with self._lock:
            self._held.add(outbox_id)
        self._wake.set()

    def _beat(self) -> None:
        try:
            beat(self.engine, self.hostname, pid=self.pid)
        except Exception as exc:  # the database may be failing over: try again next time
            log.warning("worker heartbeat not written: %s", exc)

    def _claim(self) -> None:
        with self._lock:
            ids, self._held = sorted(self._held), set()
        if not ids:
            return
        try:
            later = claim(self.engine, self.hostname, ids)
        except Exception as exc:  # the message's task records its worker again as it starts
            log.warning("held outbox messages not recorded: %s", exc)
            return
        if later:  # held by a batch or a completing step now: recorded at the next heartbeat
            with self._lock:
                self._held.update(later)

    def _run(self) -> None:
        next_beat = time.monotonic() + self.every
        while not self._stop.is_set():
            if self._wake.wait(max(0.0, next_beat - time.monotonic())):
                self._wake.clear()
                time.sleep(CLAIM_GATHER_SECONDS)  # one write for a burst of messages
                self._claim()
            if time.monotonic() >= next_beat:
                self._beat()
                self._claim()  # what was held by a batch at the last turn
                next_beat = time.monotonic() + self.every

    def start(self) -> None:
        self._beat()  # before the first task: a message this worker takes always has a live heartbeat
        self._thread.start()
        log.info("worker heartbeat every %s s as %s", self.every, self.hostname)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        try:
            forget(self.engine, self.hostname)
        except Exception as exc:
            log.warning("worker heartbeat not removed: %s", exc)
        self.engine.dispose()
