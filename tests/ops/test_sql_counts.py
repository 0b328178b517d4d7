"""Statement budgets per use case (counted by an SQLAlchemy hook, not timed)."""

import pytest

from shop.core.db import atomic
from shop.demo import seed_demo
from tests.conftest import make_app


@pytest.fixture
def counted(app, pg_url, redis_url, tmp_path):
    a = make_app(pg_url, redis_url, tmp_path, SQL_COUNT_HEADER=True)
    with atomic():
        seed_demo()
    return a.test_client()


@pytest.mark.parametrize("per_page", [1, 5, 20, 100])
def test_product_list_costs_the_same_statements_at_any_size(counted, per_page):
    r = counted.get(f"/api/v1/products?per_page={per_page}")
    assert r.status_code == 200 and len(r.json["items"]) == min(per_page, 11)
    assert int(r.headers["X-SQL-Statements"]) <= 4


def test_product_list_page_statements(counted):
    r = counted.get("/products")
    assert r.status_code == 200
    # product rows, count, variants, availability, categories, townships, programme banner
    assert int(r.headers["X-SQL-Statements"]) <= 9
