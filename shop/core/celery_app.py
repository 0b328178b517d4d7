"""Bind Celery to the Flask app so every task runs inside an application context.

The reliability settings (late acknowledgement, reject on worker lost, prefetch 1, time limits, queues,
retries with backoff and jitter, the beat schedule) live in ``config/celery.py``, each with the failure
it protects against. This module adds what needs the app: the task base class that runs tasks in an app
context, tells the outbox when a task it sent has started and finished, and records failures; and the
guard that refuses to publish a message from inside an open unit of work. The tasks themselves live in
``workers/``, above the shop; Celery imports them by name (``include`` in ``config/celery.py``).
"""

from __future__ import annotations

import logging

from celery import Celery, Task
from celery.signals import task_received, worker_ready, worker_shutdown
from flask import Flask
from kombu.transport import redis as kombu_redis

from config.celery import TASK_RETRY, celery_config
from shop.core import outbox
from shop.core.db import db, in_unit_of_work, one_connection
from shop.core.heartbeat import Heartbeat
from shop.core.logging import request_id_var

log = logging.getLogger(__name__)

# What a delivery returns when a batch of another task completed its message (``taken_in_batches``).
COMPLETED_IN_BATCH = "skipped: completed in another task's batch"


def _track(mark, message_id: int, *args) -> None:
    """Tell the outbox about a message; never fail the task for it (the database may be failing over):
    at worst the sweep sends the message once more and the idempotent task does nothing."""
    try:
        mark(message_id, *args)
    except Exception as exc:
        db.session.rollback()
        log.warning("could not record outbox message %s: %s", message_id, exc)


def _header(request, name: str):
    headers = getattr(request, "headers", None) or {}
    return getattr(request, name, None) or headers.get(name)


class ShopCelery(Celery):
    """Celery that refuses to publish from inside an open unit of work.

    A message published inside a transaction could announce a change that then rolls back, or reach a
    worker before the commit it depends on. Side effects go through ``shop.core.outbox.enqueue``, which
    publishes after the commit. (``Task.apply_async``, ``.delay()`` and retries all go through here.)
    """

    def send_task(self, name, *args, **kwargs):
        if in_unit_of_work():
            raise RuntimeError(f"{name} published inside atomic(): use shop.core.outbox.enqueue()")
        return super().send_task(name, *args, **kwargs)


def guard_redis_restore_on_lost_connection() -> None:
    """Keep a worker alive when Redis goes away while it holds unacknowledged messages.

    On connection loss Celery closes the channel, and kombu (5.7) then tries to push the messages it had
    taken back to Redis through a connection it has already released: an AttributeError that Celery
    treats as unrecoverable, leaving the worker hung in shutdown (reproduced by
    tests/workers/test_broker_outage.py). Those messages are still in Redis's ``unacked`` set, restored
    after the visibility timeout, and the outbox sends them again sooner; so giving up the restore and
    letting the consumer reconnect loses nothing.
    """
    original = kombu_redis.QoS.restore_unacked
    if getattr(original, "shop_guarded", False):
        return

    def restore_unacked(self, client=None):
        try:
            return original(self, client)
        except AttributeError as exc:  # the channel's connection is gone (see above)
            log.warning("could not restore unacknowledged messages on a lost connection: %s", exc)
            return None

    restore_unacked.shop_guarded = True  # type: ignore[attr-defined]
    restore_unacked.shop_original = original  # type: ignore[attr-defined]
    kombu_redis.QoS.restore_unacked = restore_unacked


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        autoretry_for = TASK_RETRY["autoretry_for"]
        retry_backoff = TASK_RETRY["retry_backoff"]
        retry_backoff_max = TASK_RETRY["retry_backoff_max"]
        retry_jitter = TASK_RETRY["retry_jitter"]
        max_retries = TASK_RETRY["max_retries"]

        # A task whose work is one transaction that calls ``outbox.complete_with_this_transaction()``
        # (``shared_task(..., completes_in_step=True)``): its message is marked seen and completed in that
        # transaction, not in two of its own.
        completes_in_step = False
        # A task whose messages other tasks' batches may complete (``outbox.claim_waiting`` then
        # ``complete_claimed``): a delivery whose message a batch completed stops on the batch's hint in
        # Redis, before any database work (``outbox.completed_in_batch``).
        taken_in_batches = False

        def __call__(self, *args, **kwargs):
            rid = _header(self.request, "shop_request_id") or "-"
            outbox_id = None if self.request.is_eager else _header(self.request, "shop_outbox_id")
            token = request_id_var.set(rid)
            with app.app_context(), one_connection():
                try:
                    if not outbox_id:
                        return self.run(*args, **kwargs)
                    if self.taken_in_batches and outbox.completed_in_batch(int(outbox_id), kwargs):
                        return COMPLETED_IN_BATCH
                    # Seen alive, and by which worker: the sweep does not re-send a message whose task is
                    # running or waiting for its retry, unless that worker's heartbeat stops. The worker's
                    # heartbeat records its hostname as it takes the message (shop.core.heartbeat), so a
                    # step that completes in its own transaction writes it again only on a retry.
                    if not self.completes_in_step or self.request.retries:
                        _track(outbox.mark_seen, int(outbox_id), self.request.hostname)
                    with outbox.running(int(outbox_id), self.request.hostname) as message:
                        result = self.run(*args, **kwargs)
                    if not message.completed:
                        _track(outbox.mark_completed, int(outbox_id))
                    return result
                finally:
                    db.session.remove()
                    request_id_var.reset(token)

        def on_failure(self, exc, task_id, args, kwargs, einfo):
            # Runs after the task gave up (no retry left, or an error that is not retried).
            try:
                with app.app_context():
                    try:
                        outbox_id = _header(self.request, "shop_outbox_id")
                        outbox.record_failure(
                            task=self.name,
                            task_id=task_id or "",
                            kwargs=kwargs or {},
                            error=f"{exc.__class__.__name__}: {exc}",
                            traceback=str(einfo or ""),
                            outbox_id=int(outbox_id) if outbox_id else None,
                        )
                    finally:
                        db.session.remove()
            except Exception:  # recording must never hide the original failure
                log.exception("could not record the failure of %s %s", self.name, task_id)

    settings = app.extensions["settings"]
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        guard_redis_restore_on_lost_connection()
    celery_app = ShopCelery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.set_default()
    # The task modules (``include`` in config/celery.py) are imported by Celery's own loader, here for a
    # web process (inline delivery publishes by name from ``app.tasks``) and again by a worker at start.
    celery_app.loader.import_default_modules()

    app.extensions["celery"] = celery_app
    celery_app.flask_app = app  # type: ignore[attr-defined]  # for the worker signals below
    return celery_app


# -- the worker's heartbeat (shop.core.heartbeat): started when a worker is ready, removed when it stops

_heartbeats: dict[str, Heartbeat] = {}


@worker_ready.connect
def _start_heartbeat(sender=None, **_kwargs) -> None:
    flask_app = getattr(getattr(sender, "app", None), "flask_app", None)
    hostname = getattr(sender, "hostname", None)
    if flask_app is None or not hostname or hostname in _heartbeats:
        return
    settings = flask_app.extensions["settings"]
    with flask_app.app_context():
        url = db.engine.url
    heartbeat = Heartbeat(url, hostname, settings.WORKER_HEARTBEAT_SECONDS)
    heartbeat.start()
    _heartbeats[hostname] = heartbeat


@task_received.connect
def _claim_received(sender=None, request=None, **_kwargs) -> None:
    # Runs in the worker's main process as a message arrives (maybe long before a pool process starts
    # it): the heartbeat thread records this worker as its holder.
    heartbeat = _heartbeats.get(getattr(sender, "hostname", None) or "")
    outbox_id = (getattr(request, "request_dict", None) or {}).get("shop_outbox_id")
    if heartbeat is not None and str(outbox_id or "").isdigit():
        heartbeat.held(int(outbox_id))


@worker_shutdown.connect
def _stop_heartbeat(sender=None, **_kwargs) -> None:
    heartbeat = _heartbeats.pop(getattr(sender, "hostname", None) or "", None)
    if heartbeat is not None:
        heartbeat.stop()
