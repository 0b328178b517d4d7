"""Bind Celery to the Flask app so every task runs inside an application context.

Reliability settings live here, each with the failure it protects against. Brokers: Redis in production;
on the embedded default kombu's file-system transport, which needs no server but drops a message that a
killed worker had taken. Both are made safe by the transactional outbox (the sweep re-sends what was not
confirmed) and by tasks that are idempotent (take ids, reload, check state).
"""

from __future__ import annotations

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from sqlalchemy.exc import OperationalError

from config import Settings

# Longest delay a task may be scheduled or retried with; the visibility timeout must exceed it, or Redis
# would hand a still-waiting message to a second worker.
MAX_BACKOFF_SECONDS = 600
VISIBILITY_TIMEOUT_SECONDS = 3600


def celery_config(settings: Settings) -> dict:
    """Celery settings; each one names the failure it protects against."""
    conf: dict = {
        "broker_url": settings.CELERY_BROKER_URL,
        "task_ignore_result": True,
        "result_backend": None,
        # Acknowledge a message only after the task ran: a worker killed mid-task leaves it for another.
        "task_acks_late": True,
        # ...and when the worker process dies (SIGKILL, OOM) the message is requeued, not acknowledged.
        "task_reject_on_worker_lost": True,
        # One message at a time per process, so a crash strands at most one and queues stay fair.
        "worker_prefetch_multiplier": 1,
        # A stuck task (a hung socket) is interrupted, then killed, instead of blocking its process forever.
        "task_soft_time_limit": 120,
        "task_time_limit": 180,
        # If the broker connection drops, stop long tasks rather than run them twice after redelivery.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_always_eager": settings.CELERY_ALWAYS_EAGER,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "Asia/Shanghai",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        # Separate queues so a flood of report work cannot delay payments or fulfilment.
        "task_default_queue": "default",
        "task_routes": {
            "shop.payments.*": {"queue": "payments"},
            "shop.orders.*": {"queue": "payments"},
            "shop.fulfilment.*": {"queue": "fulfilment"},
            "shop.aid.*": {"queue": "reports"},
            "shop.stock.*": {"queue": "reports"},
            "shop.reports.*": {"queue": "reports"},
        },
        "beat_schedule": {
            # Relay outbox rows whose after-commit publish failed (broker down, process killed).
            "outbox-sweep": {"task": "shop.outbox.sweep", "schedule": 30.0},
            # Unpaid orders give their reserved stock back once RESERVATION_MINUTES have passed.
            "orders-expire-unpaid": {"task": "shop.orders.expire_unpaid", "schedule": 60.0},
            "stock-reconcile-nightly": {
                "task": "shop.stock.reconcile",
                "schedule": crontab(hour=2, minute=15),
            },
            # Prove the aid rollups equal the ledger and the ledger its sources; record the run.
            "aid-reconcile-nightly": {
                "task": "shop.aid.reconcile",
                "schedule": crontab(hour=2, minute=40),
            },
        },
    }
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        conf["broker_transport_options"] = {
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            # Do not hang a web request when Redis is down: fail fast, the outbox sweep re-sends later.
            "max_retries": 1,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        }
        conf["broker_connection_timeout"] = 2
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = settings.broker_folder
        for sub in ("out", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        conf["broker_transport_options"] = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }
    scale = settings.BEAT_INTERVAL_SCALE
    if scale != 1.0:
        for entry in conf["beat_schedule"].values():
            if isinstance(entry["schedule"], int | float):
                entry["schedule"] = max(0.2, entry["schedule"] * scale)
    return conf


def beat_interval(task_name: str, settings: Settings) -> float:
    """The period of a scheduled task in seconds (crontab jobs: one day), as scaled for this process."""
    for entry in celery_config(settings)["beat_schedule"].values():
        if entry["task"] == task_name:
            sched = entry["schedule"]
            return float(sched) if isinstance(sched, int | float) else 86400.0 * settings.BEAT_INTERVAL_SCALE
    return 0.0


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        # Transient database trouble (failover, restart) is retried with exponential backoff and jitter,
        # capped below the visibility timeout.
        autoretry_for = (OperationalError,)
        retry_backoff = True
        retry_backoff_max = MAX_BACKOFF_SECONDS
        retry_jitter = True
        max_retries = 8

        def __call__(self, *args, **kwargs):
            from shop.ops.logging import request_id_var

            headers = getattr(self.request, "headers", None) or {}
            rid = getattr(self.request, "shop_request_id", None) or headers.get("shop_request_id") or "-"
            token = request_id_var.set(rid)
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    from shop.core.db import db

                    db.session.remove()
                    request_id_var.reset(token)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app.extensions["settings"]))
    celery_app.set_default()
    import workers.tasks  # noqa: F401  (registers the shop's tasks on this app)

    app.extensions["celery"] = celery_app
    return celery_app
