"""Reconciliation checkers of the aid ledger against its sources: paid orders and counter sales.

Each sale source must have been counted exactly as recorded: the positive entries of an order (its key
``order:<id>``, built by ``shop.orders.models.order_reference`` as in the stock ledger) add
up to the order's goods total (shipping is not aid), and those of a counter sale to the sale's total.
A source counted without its sale, or a sale not counted, is a difference. Refund reversals are checked
against the ledger itself (a reversal can never exceed what its line counted; enforced when written).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import Difference, register_source_checker
from shop.core.db import db


def _counted(prefix: str) -> dict[str, int]:
    rows = db.session.execute(
        select(AidEntry.source, func.sum(AidEntry.amount_fen))
        .where(AidEntry.source.like(f"{prefix}%"), AidEntry.reverses_id.is_(None))
        .group_by(AidEntry.source)
    )
    return {source: int(total or 0) for source, total in rows}


def check_orders() -> Iterator[Difference]:
    from shop.orders.models import ORDER_REFERENCE_PREFIX, Order, OrderLine, order_reference

    counted = _counted(ORDER_REFERENCE_PREFIX)
    expected = {
        order_reference(order_id): int(total or 0)
        for order_id, total in db.session.execute(
            select(Order.id, func.sum(OrderLine.line_total_fen))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.aid_counted.is_(True))
            .group_by(Order.id)
        )
    }
    for source in sorted(set(counted) | set(expected)):
        got, want = counted.get(source), expected.get(source)
        if got != want:
            yield Difference("orders", source, got, want, "order goods total vs. counted aid entries")


def check_counter_sales() -> Iterator[Difference]:
    from shop.inventory.models import CounterSale

    counted = _counted("counter-sale:")
    expected = {
        f"counter-sale:{sale_id}": int(total or 0)
        for sale_id, total in db.session.execute(select(CounterSale.id, CounterSale.total_fen))
    }
    for source in sorted(set(counted) | set(expected)):
        got, want = counted.get(source), expected.get(source)
        if got != want:
            yield Difference("counter_sales", source, got, want, "counter sale total vs. counted aid entries")


register_source_checker("orders", check_orders)
register_source_checker("counter_sales", check_counter_sales)
