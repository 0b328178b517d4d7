"""Rollups equal the ledger's sums, dimension by dimension, after any mix of sales and refunds."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from shop.aid.errors import RefundExceedsSale
from shop.aid.models import CHANNELS, AidEntry, AidRollup
from shop.core import clock
from shop.core.db import db
from tests.aid.helpers import refund, sell

SKUS = ["APL-HN-5KG", "CHL-LINE-500G", "PEP-PWD-100G", "VEG-HL-10KG", "SHOE-HEMP-40", "CHL-OIL-250G"]
PLACES = [None, "DL-HM", "DL-WX", "FAIR-TJ"]
_ids = itertools.count(1)

sale_st = st.fixed_dictionaries(
    {
        "kind": st.just("sale"),
        "lines": st.lists(
            st.tuples(st.sampled_from(SKUS), st.integers(1, 5), st.integers(1, 50_000)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ),
        "channel": st.sampled_from(CHANNELS),
        "day": st.integers(0, 364),
        "place": st.sampled_from(PLACES),
        "direct": st.booleans(),
        "retry": st.booleans(),
    }
)
refund_st = st.fixed_dictionaries(
    {
        "kind": st.just("refund"),
        "pick": st.integers(0, 10_000),
        "fraction": st.sampled_from([0.25, 0.5, 1.0, 1.5]),
        "day": st.integers(0, 364),
    }
)


DIMS = ("programme_id", "day", "channel", "category_id", "product_id", "producer_id", "township", "location_id",
        "qualifying", "direct_purchase")  # fmt: skip


def _key(row) -> tuple:
    return tuple((getattr(row, d) or 0) if d == "location_id" else getattr(row, d) for d in DIMS)


def _ledger_by_dims() -> dict:
    sums: dict = defaultdict(lambda: [0, 0, 0])
    for e in db.session.scalars(select(AidEntry).where(AidEntry.programme_id.is_not(None))):
        sums[_key(e)][0] += e.amount_fen
        sums[_key(e)][1] += e.quantity
        sums[_key(e)][2] += 1
    return {k: tuple(v) for k, v in sums.items()}


def _rollups_by_dims() -> dict:
    return {_key(r): (r.amount_fen, r.quantity, r.entries) for r in db.session.scalars(select(AidRollup))}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(sale_st, refund_st), min_size=1, max_size=8))
def test_rollups_equal_ledger_after_random_sales_and_refunds(seeded, ops):
    start = date(clock.today().year, 1, 1)
    sales: list[tuple[str, list]] = []
    left: dict[str, list[int]] = {}  # what each sale's first line still has to refund: [amount, quantity]
    for op in ops:
        day = start + timedelta(days=op["day"])
        if op["kind"] == "sale":
            source = f"order:{next(_ids)}"
            sell(source, day, op["channel"], *op["lines"], direct=op["direct"], at=op["place"])
            if op["retry"]:  # a redelivered webhook
                sell(source, day, op["channel"], *op["lines"], direct=op["direct"], at=op["place"])
            sales.append((source, op["lines"]))
            left[source] = [op["lines"][0][2], op["lines"][0][1]]
        elif sales:
            source, lines = sales[op["pick"] % len(sales)]
            sku, _qty, amount = lines[0]
            take = int(amount * op["fraction"])
            fits = take <= left[source][0] and left[source][1] >= 1
            try:
                refund(f"refund:{next(_ids)}", source, day, (sku, 1, take))
            except RefundExceedsSale:
                assert not fits
            else:
                assert fits
                left[source][0] -= take
                left[source][1] -= 1
    assert _rollups_by_dims() == _ledger_by_dims()
