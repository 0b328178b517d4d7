"""Helpers for the crash tests: wait for conditions in the database, check each order was fulfilled once,
and run a private redis-server that a test may kill (never the shared one on 6379)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy import func, select

from shop.core.db import db
from shop.core.models import OutboxMessage
from shop.fulfilment.models import PickupTicket, Shipment
from shop.inventory.models import StockMovement
from shop.inventory.services import reconcile
from shop.notifications.models import Notification
from shop.orders.models import Order

DONE = ("ready_for_pickup", "fulfilling")  # fulfilling: a parcel waits for the courier


def fulfilled(order_ids: list[int]) -> int:
    """How many of the orders have their shipment or pickup ticket."""
    db.session.rollback()
    n = db.session.scalar(select(func.count()).where(PickupTicket.order_id.in_(order_ids))) or 0
    n += db.session.scalar(select(func.count()).where(Shipment.order_id.in_(order_ids))) or 0
    db.session.rollback()
    return n


def picked(order_ids: list[int]) -> int:
    db.session.rollback()
    n = db.session.scalar(select(func.count()).where(Order.id.in_(order_ids), Order.status != "paid")) or 0
    db.session.rollback()
    return n


class Supervised:
    """Start a process again when it exits, as systemd's ``Restart=always`` does in production.

    A Celery worker can exit on its own when the broker connection breaks at an unlucky moment (kombu's
    Redis transport raises an unrecoverable AttributeError in a race on connection loss); production runs
    workers under a supervisor (docs/workers.md), and so does this test.
    """

    def __init__(self, start):
        self._start = start
        self.procs = [start(0)]
        self.restarts = 0

    def check(self) -> None:
        if self.procs[-1].popen.poll() is not None:
            self.restarts += 1
            self.procs.append(self._start(self.restarts))

    def kill(self) -> None:
        for p in self.procs:
            p.kill()


def wait_until(condition, *, timeout: float, what: str, procs=(), supervised=()) -> None:
    """Poll ``condition`` (a cheap database read) until it holds; fail with the workers' logs if not."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        for s in supervised:
            s.check()
        time.sleep(0.2)
    procs = [*procs, *(p for s in supervised for p in s.procs)]
    logs = "\n".join(f"--- {p.name}\n{p.output()[-4000:]}" for p in procs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def sent_unfinished(task_prefix: str) -> int:
    """Outbox messages of these tasks published to the broker and not completed yet."""
    db.session.rollback()
    n = (
        db.session.scalar(
            select(func.count()).where(
                OutboxMessage.task.startswith(task_prefix),
                OutboxMessage.sent_at.is_not(None),
                OutboxMessage.completed_at.is_(None),
            )
        )
        or 0
    )
    db.session.rollback()
    return n


def assert_each_fulfilled_once(order_ids: list[int]) -> None:
    """One set of sale movements (the ordered units, taken once), one parcel or ticket, one notice."""
    db.session.rollback()
    for oid in order_ids:
        order = db.session.get(Order, oid)
        assert order.status in DONE and order.reservation_state == "consumed", (oid, order.status)
        ordered = sum(line.quantity for line in order.lines)
        moves = list(
            db.session.scalars(
                select(StockMovement).where(
                    StockMovement.reference == order.reference_key, StockMovement.kind == "online_sale"
                )
            )
        )
        assert sum(-m.quantity for m in moves if m.lot_id) == ordered, oid
        assert sum(-m.reserved_delta for m in moves) == ordered, oid
        tickets = db.session.scalar(select(func.count()).where(PickupTicket.order_id == oid))
        parcels = db.session.scalar(select(func.count()).where(Shipment.order_id == oid))
        assert tickets + parcels == 1, oid
        kind = "ready_for_pickup" if order.delivery_type == "pickup" else "preparing"
        told = db.session.scalar(
            select(func.count()).where(Notification.dedupe_key.like(f"order:{oid}:{kind}:%"))
        )
        assert told == 1, oid
    assert reconcile() == []
    db.session.rollback()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PrivateRedis:
    """A redis-server of this test's own, on a free port, without persistence: killing it loses
    everything it held, as a crashed Redis without AOF would."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/services.sh installs it)"
        log = (self.workdir / f"redis-{self.port}.log").open("a")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        deadline = time.time() + 10
        while time.time() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            time.sleep(0.1)
        raise AssertionError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
