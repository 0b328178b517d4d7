"""The aid ledger's check of paid orders (registered with ``shop.aid.reconcile``).

Each paid order must have been counted exactly as recorded: the positive entries of the order's key
(``order_reference``, the same in the stock ledger) add up to the order's goods total (shipping is not
aid). An order counted without being paid, or paid and not counted, is a difference. Refund reversals are checked against the ledger itself (a reversal can never
exceed what its line counted; enforced when written).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from shop.aid.reconcile import Difference, counted_by_source, register_source_checker
from shop.core.db import db
from shop.orders.models import ORDER_REFERENCE_PREFIX, Order, OrderLine, order_reference


def check_orders() -> Iterator[Difference]:
    counted = counted_by_source(ORDER_REFERENCE_PREFIX)
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


register_source_checker("orders", check_orders)
