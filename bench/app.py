"""The shop as the benchmarks run it: the real app plus the baselines its figures are compared to.

Web: ``gunicorn --config config/gunicorn.py 'bench.app:create_bench_app()'`` (``bench/harness.py``).
Workers: ``celery -A bench.worker worker`` (``bench/worker.py``). Only the benchmark builds this app, so
the baseline endpoints (``/api/_bench/...``) and the no-op task never ship with the shop.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

import bench.tasks  # noqa: F401  (registers bench.noop on the app's Celery)
from bench.baseline import bp as baseline_bp
from config import Settings
from shop import create_app


def create_bench_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """``shop.create_app`` with the benchmark's baseline endpoints registered."""
    app = create_app(config)
    app.register_blueprint(baseline_bp)
    return app
