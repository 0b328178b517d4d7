"""The aid ledger's check of counter sales (registered with ``shop.aid.reconcile``).

Each counter sale must have been counted exactly as recorded: the positive entries of
``counter-sale:<id>`` add up to the sale's total. A sale not counted, or entries for a sale that does not
exist, is a difference.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from shop.aid.reconcile import Difference, counted_by_source, register_source_checker
from shop.core.db import db
from shop.inventory.models import COUNTER_SALE_PREFIX, CounterSale, counter_sale_reference


def check_counter_sales() -> Iterator[Difference]:
    counted = counted_by_source(COUNTER_SALE_PREFIX)
    expected = {
        counter_sale_reference(sale_id): int(total or 0)
        for sale_id, total in db.session.execute(select(CounterSale.id, CounterSale.total_fen))
    }
    for source in sorted(set(counted) | set(expected)):
        got, want = counted.get(source), expected.get(source)
        if got != want:
            yield Difference("counter_sales", source, got, want, "counter sale total vs. counted aid entries")


register_source_checker("counter_sales", check_counter_sales)
