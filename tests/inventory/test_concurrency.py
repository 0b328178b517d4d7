"""Real threads, each with its own app context and database session, racing for the same stock."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import atomic, db
from shop.inventory import sales
from shop.inventory.errors import InsufficientStock
from shop.inventory.models import CounterSale, StockMovement
from shop.inventory.services import reconcile
from tests.inventory.factories import OP_HM, level, lots, put

THREADS = 12


def _race(app, fn, n: int = THREADS) -> list:
    """Run ``fn(i)`` in ``n`` threads that start together; return their results (or exceptions)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = fn(i)
            except Exception as exc:  # collected and asserted on by the test
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _sell(i: int, *, client_sale_id: str | None = None, quantity: int = 1):
    with atomic():
        location = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        variant = db.session.scalar(select(Variant).where(Variant.sku == "APL-5KG"))
        actor = db.session.scalar(select(User).where(User.email == OP_HM))
        result = sales.record_counter_sale(
            location,
            client_sale_id=client_sale_id or f"race-{i}",
            lines=[(variant, quantity)],
            paid_with="cash",
            actor=actor,
        )
        return result.sale.id, result.created


def test_threads_selling_the_last_units_sell_exactly_what_was_there(any_app, any_world):
    today = clock.today()
    put("APL-5KG", "DL-HM", 3, lot="LATE", best_before=today + timedelta(days=20))
    put("APL-5KG", "DL-HM", 4, lot="EARLY", best_before=today + timedelta(days=5))

    results = _race(any_app, _sell)

    sold = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    assert len(sold) == 7 and len(refused) == THREADS - 7, results
    assert level("APL-5KG", "DL-HM") == (0, 0)
    assert lots("APL-5KG", "DL-HM") == {"LATE": 0, "EARLY": 0}
    assert db.session.scalar(select(func.count()).select_from(CounterSale)) == 7
    assert reconcile() == []


def test_threads_selling_several_units_never_go_negative(any_app, any_world):
    put("APL-5KG", "DL-HM", 10, lot="A", best_before=clock.today() + timedelta(days=9))

    results = _race(any_app, lambda i: _sell(i, quantity=1 + i % 3))

    sold_units = sum(1 + i % 3 for i, r in enumerate(results) if isinstance(r, tuple))
    assert all(isinstance(r, tuple | InsufficientStock) for r in results), results
    on_hand, _reserved = level("APL-5KG", "DL-HM")
    assert on_hand == 10 - sold_units >= 0
    # Whatever is left is less than the smallest refused request: a refusal was never premature.
    smallest_refused = min((1 + i % 3 for i, r in enumerate(results) if not isinstance(r, tuple)), default=99)
    assert on_hand < smallest_refused
    assert reconcile() == []


def test_concurrent_replays_of_one_sale_count_it_once(any_app, any_world):
    put("APL-5KG", "DL-HM", 10, lot="A", best_before=clock.today() + timedelta(days=9))

    results = _race(any_app, lambda i: _sell(i, client_sale_id="tablet-7-0001", quantity=3))

    assert all(isinstance(r, tuple) for r in results), results
    assert len({sale_id for sale_id, _ in results}) == 1
    assert Counter(created for _, created in results) == Counter({True: 1, False: THREADS - 1})
    assert level("APL-5KG", "DL-HM") == (7, 0)
    moves = db.session.scalar(select(func.count()).where(StockMovement.kind == "counter_sale"))
    assert moves == 1
    assert reconcile() == []


def test_concurrent_api_replays_answer_201_once_then_200(any_app, any_world):
    from tests.conftest import ApiClient

    put("APL-5KG", "DL-HM", 5, lot="A", best_before=clock.today() + timedelta(days=9))
    token = ApiClient(any_app.test_client()).as_user(OP_HM).token
    body = {
        "client_sale_id": "offline-42",
        "lines": [{"sku": "APL-5KG", "quantity": 2}],
        "paid_with": "alipay",
    }

    def post(_i: int):
        client = ApiClient(any_app.test_client(), token)
        r = client.post("/api/v1/locations/DL-HM/sales", json=body)
        return r.status_code, r.get_json()["id"]

    results = _race(any_app, post, n=8)

    assert sorted(status for status, _ in results) == [200] * 7 + [201], results
    assert len({sale_id for _, sale_id in results}) == 1
    assert level("APL-5KG", "DL-HM") == (3, 0)
    assert reconcile() == []
