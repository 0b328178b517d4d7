"""A Redis client for what works without Redis too (a cache in front of the database), per process.

Its sockets time out after ``TIMEOUT_SECONDS``, so a slow or unreachable server cannot hang a request.
After a failure the caller reports (``failed``), ``client()`` answers ``None`` for ``BACKOFF_SECONDS``:
the caller does without Redis meanwhile, and a dead server does not add a connect timeout to every
request. With no URL there is no client at all.
"""

from __future__ import annotations

import time

import redis

BACKOFF_SECONDS = 15
TIMEOUT_SECONDS = 0.25


class BackoffRedis:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: redis.Redis | None = None
        self.down_until = 0.0

    def client(self) -> redis.Redis | None:
        """The client (made on first use), or ``None``: no URL, or Redis failed less than
        ``BACKOFF_SECONDS`` ago."""
        if not self.url or time.monotonic() < self.down_until:
            return None
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
            )
        return self._client

    def failed(self) -> None:
        """A command failed: leave Redis alone for ``BACKOFF_SECONDS``."""
        self.down_until = time.monotonic() + BACKOFF_SECONDS
