"""Celery settings for reliability, each with the failure it protects against.

``shop/core/celery_app.py`` builds the Celery app from ``celery_config(settings)``. Brokers: Redis in production;
on the embedded default kombu's file-system transport, which needs no server but loses a message a
killed worker had taken (it deletes the file when it reads it). Both are made safe by the transactional
outbox (``shop/core/outbox.py``: the sweep re-sends what was never confirmed as done) and by tasks that
are idempotent (take ids, reload, check state). ``docs/workers.md`` explains how to run all this on
several machines.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from kombu import Queue
from sqlalchemy.exc import OperationalError

from config import Settings
from config.timeouts import (
    MAX_BACKOFF_SECONDS,
    TASK_SOFT_TIME_LIMIT,
    TASK_TIME_LIMIT,
    VISIBILITY_TIMEOUT_SECONDS,
)

QUEUES = ("default", "payments", "fulfilment", "reports")

# The modules that define the shop's tasks. Celery imports them by name (its ``include`` setting), so
# neither the app nor any task module imports another task module to get it registered.
TASK_MODULES = (
    "workers.tasks",
    "workers.aid",
    "workers.fulfilment",
    "workers.orders",
    "workers.payments",
    "workers.reports",
    "workers.accounts",
    "workers.media",
    "workers.workunits",
    "workers.producers",
    "workers.preorders",
)

# How every shop task retries transient database trouble (failover, restart, SQLite busy): exponential
# backoff (1, 2, 4... s) with full jitter so a fleet of workers does not retry in lock step, capped
# below the visibility timeout. Tasks that call gateways add their own retry on GatewayUnavailable.
TASK_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": MAX_BACKOFF_SECONDS,
    "retry_jitter": True,
    "max_retries": 8,
}


def beat_schedule(settings: Settings | None = None) -> dict[str, dict]:
    """The periodic jobs. Each task claims its period in the database first (``shop.core.periodic``), so a
    second beat started by mistake, or a redelivered message, does not run a job twice (``shop.aid.fold``
    needs no claim: any number of folds at once is safe)."""
    fold_every = settings.AID_FOLD_SECONDS if settings is not None else 5.0
    return {
        # Relay outbox rows whose after-commit publish failed (broker down, process killed), and re-send
        # rows published long ago but never confirmed done (a message lost with a killed worker on the
        # file broker, or with a Redis restart that had no persistence).
        "outbox-sweep": {"task": "shop.outbox.sweep", "schedule": 30.0},
        # Unpaid orders give their reserved stock back once RESERVATION_MINUTES have passed.
        "orders-expire-unpaid": {"task": "shop.orders.expire_unpaid", "schedule": 60.0},
        # Stripe webhooks can be missed (endpoint down longer than Stripe retries, misconfigured secret):
        # ask Stripe about payments still pending and apply them exactly as the webhook would.
        "payments-sync-stale": {"task": "shop.payments.sync_stale", "schedule": 300.0},
        # Low-stock and expiring-lot digests for hall operators; a digest repeats only when it changes.
        "stock-alerts": {"task": "shop.reports.stock_alerts", "schedule": 3600.0},
        # Beat's crontab times are in the shop's zone (SHOP_TIMEZONE, Beijing time), the halls' local time.
        "stock-reconcile-nightly": {"task": "shop.stock.reconcile", "schedule": crontab(hour=2, minute=15)},
        # Yesterday's sales per hall, waiting for the operators when they open.
        "hall-summary-daily": {"task": "shop.reports.hall_summary", "schedule": crontab(hour=0, minute=30)},
        # Outbox rows and task failure records older than OUTBOX_RETENTION_DAYS are deleted.
        "outbox-purge-daily": {"task": "shop.outbox.purge", "schedule": crontab(hour=3, minute=30)},
        # New aid ledger entries are added to the per-dimension summaries the officer totals read.
        "aid-fold": {"task": "shop.aid.fold", "schedule": fold_every},
        # Prove the aid rollups equal the ledger and the ledger its sources; record the run.
        "aid-reconcile-nightly": {"task": "shop.aid.reconcile", "schedule": crontab(hour=2, minute=40)},
        # Revoked tokens, sign-in failure counters and password links that can no longer matter.
        "accounts-purge-hourly": {"task": "shop.accounts.purge_expired", "schedule": 3600.0},
        # Each work unit's statement of last month, told to its manager on the 1st (once per unit and month).
        "work-unit-statements-monthly": {
            "task": "shop.workunits.monthly_statements",
            "schedule": crontab(day_of_month=1, hour=8, minute=0),
        },
        # Last month's settlement statements of every producer, early on the 1st (Beijing time).
        "producer-settlement-monthly": {
            "task": "shop.producers.monthly_settlement",
            "schedule": crontab(day_of_month=1, hour=1, minute=10),
        },
    }


def celery_config(settings: Settings) -> dict:
    """Celery settings; each one names the failure it protects against."""
    conf: dict = {
        "broker_url": settings.CELERY_BROKER_URL,
        "include": list(TASK_MODULES),
        # Tasks report through the database (orders, outbox rows), never through a result backend that
        # would be one more store to lose or fill up.
        "task_ignore_result": True,
        "result_backend": None,
        # Acknowledge a message only after the task ran: a worker killed mid-task leaves it for another.
        "task_acks_late": True,
        # ...and when the worker process dies (SIGKILL, OOM) the message is requeued, not acknowledged.
        "task_reject_on_worker_lost": True,
        # One message at a time per process, so a crash strands at most one and queues stay fair.
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_time_limit": TASK_TIME_LIMIT,
        # If the broker connection drops, stop long tasks rather than run them twice after redelivery.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # A slow leak in a library cannot grow a worker process forever: it is replaced now and then.
        "worker_max_tasks_per_child": 1000,
        "task_always_eager": settings.CELERY_ALWAYS_EAGER,
        # JSON only: a message can never carry a pickled object that runs code when loaded.
        "task_serializer": "json",
        "accept_content": ["json"],
        # Crontab entries are read in the shop's zone (shop.core.clock's), messages carry UTC.
        "timezone": settings.SHOP_TIMEZONE,
        "enable_utc": True,
        # A worker started before the broker (or during an outage) waits for it instead of exiting, and
        # keeps trying for as long as the outage lasts: one process exiting would stop a whole honcho or
        # systemd group. The outbox holds the work meanwhile.
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # Publishing (web requests, the outbox relay) fails fast when the broker is down: the message is
        # already safe in the outbox table and the sweep sends it later; a long retry here would only
        # hold a buyer's request open.
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        # Separate queues so a flood of report work cannot delay payments or fulfilment; a machine can
        # run workers for some queues only (docs/workers.md).
        "task_default_queue": "default",
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_routes": {
            "shop.payments.*": {"queue": "payments"},
            "shop.orders.*": {"queue": "payments"},
            "shop.fulfilment.*": {"queue": "fulfilment"},
            "shop.aid.*": {"queue": "reports"},
            "shop.stock.*": {"queue": "reports"},
            "shop.reports.*": {"queue": "reports"},
            "shop.producers.*": {"queue": "reports"},
            "shop.preorders.*": {"queue": "fulfilment"},
        },
        "beat_schedule": beat_schedule(settings),
    }
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        conf["broker_transport_options"] = {
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            # Do not hang a web request when Redis is down: fail fast, the outbox sweep re-sends later.
            "max_retries": 1,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            # Notice a half-open connection (Redis host gone without a FIN) instead of waiting forever.
            "socket_keepalive": True,
            "health_check_interval": 10,
        }
        conf["broker_connection_timeout"] = 2
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = settings.broker_folder
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        conf["broker_transport_options"] = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            # The exchange tables live with the data (kombu's default is ./control in the working
            # directory, which ends up in the source tree).
            "control_folder": str(folder / "control"),
            "store_processed": False,
            # kombu lists the folder once a second by default, so a paid order waited up to a second per
            # step; listing a small local folder five times a second costs nothing.
            "polling_interval": 0.2,
        }
    scale = settings.BEAT_INTERVAL_SCALE
    if scale != 1.0:
        for entry in conf["beat_schedule"].values():
            if isinstance(entry["schedule"], int | float):
                entry["schedule"] = max(0.2, entry["schedule"] * scale)
    return conf


def beat_interval(task_name: str, settings: Settings) -> float:
    """The period of a scheduled task in seconds (crontab jobs: one day), as scaled for this process."""
    for entry in beat_schedule(settings).values():
        if entry["task"] == task_name:
            sched = entry["schedule"]
            if isinstance(sched, int | float):
                return max(0.2, float(sched) * settings.BEAT_INTERVAL_SCALE)
            return 86400.0 * settings.BEAT_INTERVAL_SCALE
    return 0.0
