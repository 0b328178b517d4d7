"""Prometheus metrics: request latency per endpoint, plus business gauges read at scrape time.

Gauges that describe shared state (orders by status, outbox lag, queue depth, aid total) are computed
from PostgreSQL/Redis when /metrics is scraped, so every web process reports the same truth. Domains add
their own with ``register_gauge``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from shop.aid.services import current_programme, programme_total_fen
from shop.core.db import db
from shop.core.outbox import QUEUES, queue_depths, stats
from shop.orders.models import Order

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "endpoint", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# name -> (help, function returning [(labels dict, value)])
_GAUGES: dict[str, tuple[str, Callable[[], Iterable[tuple[dict[str, str], float]]]]] = {}


def register_gauge(
    name: str, help_text: str, fn: Callable[[], Iterable[tuple[dict[str, str], float]]]
) -> None:
    _GAUGES[name] = (help_text, fn)


class _ScrapeCollector:
    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        for name, (help_text, fn) in list(_GAUGES.items()):
            try:
                with self.app.app_context():
                    samples = list(fn())
            except Exception as exc:  # a down database must not break the scrape of the rest
                log.warning("metric %s unavailable: %s", name, exc.__class__.__name__)
                continue
            labels = sorted({k for lbl, _ in samples for k in lbl})
            fam = GaugeMetricFamily(name, help_text, labels=labels)
            for lbl, value in samples:
                fam.add_metric([lbl.get(k, "") for k in labels], value)
            yield fam

    def describe(self):
        return []


def _outbox_samples():
    st = stats()
    db.session.rollback()
    return [
        ({"measure": "pending"}, float(st.unsent)),
        ({"measure": "in_flight"}, float(st.in_flight)),
        ({"measure": "failed"}, float(st.failed)),
        ({"measure": "oldest_age_seconds"}, st.oldest_unsent_seconds),
    ]


def _queue_samples():
    depths = queue_depths() or {}
    return [({"queue": q}, float(n)) for q, n in depths.items() if q in QUEUES]


def _aid_samples():
    prog = current_programme()
    if prog is None:
        return []
    total = programme_total_fen(prog)
    db.session.rollback()
    return [({"programme": prog.code}, float(total))]


register_gauge(
    "shop_outbox_messages", "Outbox messages not yet sent, and the age of the oldest", _outbox_samples
)


def _order_samples():
    rows = db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
    db.session.rollback()
    return [({"status": status}, float(n)) for status, n in rows]


register_gauge("shop_orders", "Orders by status", _order_samples)
register_gauge("shop_queue_depth", "Messages waiting in each Celery queue (Redis broker)", _queue_samples)
register_gauge(
    "shop_aid_qualifying_total_fen", "Qualifying consumption-aid sales of the current programme", _aid_samples
)


def init_metrics(app: Flask) -> None:
    app_registry = CollectorRegistry(auto_describe=False)
    app_registry.register(_ScrapeCollector(app))
    app.extensions["metrics_registry"] = app_registry

    @app.before_request
    def _start_timer():
        g._metrics_start = time.perf_counter()

    @app.after_request
    def _observe(resp):
        start = g.pop("_metrics_start", None)
        if start is not None:
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            REQUEST_LATENCY.labels(request.method, endpoint, str(resp.status_code)).observe(
                time.perf_counter() - start
            )
        return resp


def render_metrics(app: Flask) -> bytes:
    return generate_latest(REGISTRY) + generate_latest(app.extensions["metrics_registry"])
