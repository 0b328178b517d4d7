"""The public catalogue answer cache: a repeat within the TTL costs no SQL; credentials bypass it."""

import pytest

from shop.catalog import cache
from shop.core.db import atomic
from shop.demo import seed_demo
from tests.conftest import make_app
from tests.statements import count_statements


@pytest.fixture
def cached(app, pg_url, redis_url, tmp_path):
    a = count_statements(make_app(pg_url, redis_url, tmp_path, CATALOGUE_CACHE_SECONDS=30))
    with atomic():
        seed_demo()
    cache.clear()
    yield a.test_client()
    cache.clear()


def test_repeat_within_ttl_is_served_without_sql(cached):
    first = cached.get("/api/v1/products?per_page=5")
    again = cached.get("/api/v1/products?per_page=5")
    assert first.status_code == again.status_code == 200
    assert int(first.headers["X-SQL-Statements"]) > 0
    assert again.headers["X-SQL-Statements"] == "0"
    assert again.json == first.json


def test_key_includes_query_and_language(cached):
    cached.get("/api/v1/products?per_page=5")
    other = cached.get("/api/v1/products?per_page=6")
    english = cached.get("/api/v1/products?per_page=5", headers={"Accept-Language": "en"})
    assert int(other.headers["X-SQL-Statements"]) > 0
    assert len(other.json["items"]) == 6
    assert int(english.headers["X-SQL-Statements"]) > 0


def test_requests_with_credentials_and_errors_are_not_cached(cached):
    cached.get("/api/v1/products/1")
    authed = cached.get("/api/v1/products/1", headers={"Authorization": "Bearer nope"})
    assert int(authed.headers["X-SQL-Statements"]) > 0
    assert cached.get("/api/v1/products/999999").status_code == 404
    assert int(cached.get("/api/v1/products/999999").headers["X-SQL-Statements"]) > 0


def test_off_outside_production_by_default(app):
    assert app.extensions["settings"].CATALOGUE_CACHE_SECONDS == 0


def test_expired_answer_is_served_while_another_request_renews_it(cached):
    first = cached.get("/api/v1/products?per_page=3")
    (key,) = list(cache._entries)
    _, body, status, headers = cache._entries[key]
    cache._entries[key] = (0.0, body, status, headers)  # expired
    cache._renewing.add(key)  # another thread is renewing it
    stale = cached.get("/api/v1/products?per_page=3")
    assert stale.headers["X-SQL-Statements"] == "0" and stale.json == first.json
    cache._renewing.discard(key)
    renewed = cached.get("/api/v1/products?per_page=3")
    assert int(renewed.headers["X-SQL-Statements"]) > 0
    assert cache._entries[key][0] > 0.0


def test_catalogue_pages_are_cached_for_cookieless_visitors_only(cached):
    first = cached.get("/products")
    again = cached.get("/products")
    assert first.status_code == again.status_code == 200
    assert again.headers["X-SQL-Statements"] == "0" and again.data == first.data
    assert "Set-Cookie" not in again.headers
    cached.set_cookie("session", "something")
    with_cookie = cached.get("/products")
    assert int(with_cookie.headers["X-SQL-Statements"]) > 0
