"""gunicorn settings for the shop (``gunicorn --config config/gunicorn.py 'shop:create_app()'``)."""

import os

# Chosen by measurement (make bench --only tune, docs/benchmarks.md): one process per core, and enough
# threads that a request waiting on PostgreSQL (a hot SKU's row lock) does not idle the core.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# gthread, answering the request errors gunicorn decides itself (over-long URL or headers) as problem+json.
worker_class = "config.gunicorn_worker.ProblemThreadWorker"
# Request lines up to gunicorn's maximum reach the shop, which answers anything over MAX_URL_LENGTH
# (4096 by default) with a 414 problem; only longer lines are refused by gunicorn itself (see above).
limit_request_line = 8190
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
# Build the app in each worker, after fork: no database connections are shared across processes.
preload_app = False
