"""The caches' Redis client (shop.core.redis_backoff): after a failure it is left alone for the back-off,
then used again; without a URL there is none."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from shop.core import redis_backoff
from shop.core.redis_backoff import BACKOFF_SECONDS, BackoffRedis


def test_a_failed_redis_is_left_alone_for_the_back_off_then_used_again(monkeypatch):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: refused at once
    try:
        guarded = BackoffRedis(f"redis://127.0.0.1:{s.getsockname()[1]}/0")
        client = guarded.client()
        assert client is not None
        with pytest.raises(redis.ConnectionError):
            client.get("k")
        guarded.failed()
        assert guarded.client() is None
        now = time.monotonic()
        monkeypatch.setattr(redis_backoff.time, "monotonic", lambda: now + BACKOFF_SECONDS - 1)
        assert guarded.client() is None
        monkeypatch.setattr(redis_backoff.time, "monotonic", lambda: now + BACKOFF_SECONDS + 1)
        assert guarded.client() is client
    finally:
        s.close()


def test_a_live_redis_answers_and_no_url_means_no_client(redis_url):
    client = BackoffRedis(redis_url).client()
    assert client is not None and client.ping()
    assert BackoffRedis("").client() is None
