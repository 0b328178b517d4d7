"""The storefront banner figure is cached (Redis, or in-process), invalidated on sales, and never breaks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis
from sqlalchemy import text

from shop.aid import cache
from shop.aid.services import SaleLine, headline, record_sale
from shop.core.db import atomic, db
from tests.aid.helpers import variant


def _sale(source: str, amount: int) -> None:
    with atomic():
        record_sale(
            source=source,
            occurred_at=datetime.now(UTC),
            channel="online",
            lines=[SaleLine(variant("APL-HN-5KG").id, 1, amount)],
        )


def test_headline_is_cached_in_redis_and_dropped_after_a_sale(seeded, redis_url):
    client = redis.Redis.from_url(redis_url)
    assert headline()["total_fen"] == 0
    cached = json.loads(client.get(cache.HEADLINE_KEY))
    assert cached["total_fen"] == 0 and 0 < client.ttl(cache.HEADLINE_KEY) <= cache.REDIS_TTL
    with atomic():  # a change that bypasses the ledger services is not seen: the value comes from Redis
        db.session.execute(text("UPDATE aid_programme SET target_fen = target_fen * 2"))
    assert headline()["target_fen"] == 5_000_000_000
    _sale("order:1", 6800)  # the commit that writes aid entries drops the cached figure
    assert client.get(cache.HEADLINE_KEY) is None
    fresh = headline()
    assert fresh["total_fen"] == 6800 and fresh["target_fen"] == 10_000_000_000


def test_rolled_back_sale_keeps_the_cache(seeded, redis_url):
    client = redis.Redis.from_url(redis_url)
    headline()
    try:
        with atomic():
            record_sale(
                source="order:2",
                occurred_at=datetime.now(UTC),
                channel="online",
                lines=[SaleLine(variant("APL-HN-5KG").id, 1, 6800)],
            )
            raise RuntimeError("payment failed")
    except RuntimeError:
        pass
    assert client.get(cache.HEADLINE_KEY) is not None


def test_banner_survives_redis_being_down(seeded, pg_url, tmp_path):
    from tests.conftest import make_app

    _sale("order:3", 6800)
    down = make_app(pg_url, "redis://127.0.0.1:1/0", tmp_path)  # nothing listens on port 1
    with down.app_context():
        assert headline()["total_fen"] == 6800
        r = down.test_client().get("/")
        assert r.status_code == 200 and "68.00" in r.get_data(as_text=True)
        assert down.test_client().get("/aid/progress").status_code == 200
        _sale("order:4", 100)  # invalidation with Redis down does not fail the sale
        assert headline()["total_fen"] == 6900  # the local fallback was dropped too
        db.session.remove()


def test_in_process_cache_without_redis(sqlite_app, monkeypatch):
    from shop.demo import seed_demo

    with atomic():
        seed_demo()
    assert headline()["total_fen"] == 0
    with atomic():
        db.session.execute(text("UPDATE aid_programme SET target_fen = 1000000"))
    assert headline()["target_fen"] == 5_000_000_000  # served from the in-process cache
    monkeypatch.setattr(cache, "LOCAL_TTL", -1)  # expired: recomputed (short-lived, never badly stale)
    _sale("order:5", 500)
    now = headline()
    assert (now["total_fen"], now["target_fen"]) == (500, 1000000)
