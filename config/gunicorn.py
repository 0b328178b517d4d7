"""gunicorn settings for the shop (``gunicorn --config config/gunicorn.py 'shop:create_app()'``)."""

import os

# Chosen by measurement (make bench --only tune, docs/benchmarks.md): one process per core, and enough
# threads that a request waiting on PostgreSQL (a hot SKU's row lock) does not idle the core.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
# Build the app in each worker, after fork: no database connections are shared across processes.
preload_app = False
