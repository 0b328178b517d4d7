"""Bind Celery to the Flask app so every task runs inside an application context."""

from __future__ import annotations

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask

from config import Settings


def celery_config(settings: Settings) -> dict:
    """Celery settings; each one names the failure it protects against."""
    conf: dict = {
        "broker_url": settings.CELERY_BROKER_URL,
        "task_ignore_result": True,
        "result_backend": None,
        # A task is acknowledged only after it ran: a worker killed mid-task leaves it for another.
        "task_acks_late": True,
        # ...and when the worker process dies (SIGKILL, OOM) the message goes back to the queue.
        "task_reject_on_worker_lost": True,
        # One message at a time per process, so a crash strands at most one.
        "worker_prefetch_multiplier": 1,
        "task_always_eager": settings.CELERY_ALWAYS_EAGER,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "Asia/Shanghai",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": "default",
        "beat_schedule": {
            # Relay outbox rows whose after-commit publish failed (broker down, process killed).
            "outbox-sweep": {"task": "shop.outbox.sweep", "schedule": 30.0},
            "stock-reconcile-nightly": {
                "task": "shop.stock.reconcile",
                "schedule": crontab(hour=2, minute=15),
            },
            # Prove the aid rollups equal the ledger and the ledger its sources; record the run.
            "aid-reconcile-nightly": {
                "task": "shop.aid.reconcile",
                "schedule": crontab(hour=2, minute=40),
                "options": {"queue": "reports"},
            },
        },
    }
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
    return conf


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app.extensions["settings"]))
    celery_app.set_default()
    import workers.tasks  # noqa: F401  (registers the shop's tasks on this app)

    app.extensions["celery"] = celery_app
    return celery_app
