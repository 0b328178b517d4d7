"""gunicorn settings for the shop (``gunicorn --config config/gunicorn.py 'shop:create_app()'``)."""

import os
import sys
from pathlib import Path

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
# The path without its query string and no Referer: password links carry their token in the query, and
# search boxes carry names; neither belongs in an access log.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
# Build the app in each worker, after fork: no database connections are shared across processes.
preload_app = False

# gunicorn's control socket (``gunicornc``) defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
# so two shops run by one user on one machine would fight over it. Each installation keeps its own in its
# data directory; WEB_CONTROL_SOCKET=off disables it, or names another path.
_data_dir = Path(os.environ.get("DATA_DIR") or Path(__file__).resolve().parent.parent / "var").resolve()
_control = os.environ.get("WEB_CONTROL_SOCKET", "").strip()
if _control.lower() in ("off", "none", "false", "0"):
    control_socket_disable = True
else:
    control_socket = str(Path(_control).resolve() if _control else _data_dir / "gunicorn.ctl")
    # A Unix socket path holds at most 107 bytes; a longer one could not be bound, so go without.
    if len(os.fsencode(control_socket)) > 100:
        print(f"gunicorn control socket disabled: path too long ({control_socket})", file=sys.stderr)
        control_socket_disable = True
