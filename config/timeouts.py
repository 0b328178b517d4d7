"""How long a task may wait, run and stay unacknowledged: the limits the Celery settings
(``config/celery.py``) and the production checks of ``Settings`` (``config/__init__.py``) both rely on."""

# Longest delay a task may be scheduled or retried with (countdown, eta, retry backoff). The visibility
# timeout must exceed it: Redis hands a message that was not acknowledged within the visibility timeout
# to another worker, so a shorter timeout would run a still-waiting (or still-running) task twice.
MAX_BACKOFF_SECONDS = 600
# A stuck task (a hung socket, a lock wait) is interrupted at the soft limit (SoftTimeLimitExceeded, so
# its transaction rolls back cleanly), then its process is killed at the hard limit, instead of blocking
# a worker process forever.
TASK_SOFT_TIME_LIMIT = 120
TASK_TIME_LIMIT = 180
VISIBILITY_TIMEOUT_SECONDS = 3600
if VISIBILITY_TIMEOUT_SECONDS <= MAX_BACKOFF_SECONDS + TASK_TIME_LIMIT:  # pragma: no cover - config guard
    raise RuntimeError("the visibility timeout must exceed the longest backoff plus the task time limit")
