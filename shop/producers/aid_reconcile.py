"""The settlement check of the aid reconciliation (registered with ``shop.aid.reconcile``).

For every statement: its totals are the sums of its lines and payable = gross - refunds - fee. For every
settled line: its amount is its source's (the order line, the counter sale line, the refund's part of the
line) and its fee follows its rate. Against the aid ledger: for every settled order, refund and counter
sale, the producer's settled amount equals what the ledger counted (or reversed) for it, to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import Difference, register_source_checker
from shop.core.db import db
from shop.inventory.models import CounterSale, CounterSaleLine
from shop.orders.models import Order, OrderLine
from shop.payments.models import Refund
from shop.producers.fees import fee_of
from shop.producers.models import Statement, StatementLine

CHECK = "settlement"


def _statement_totals() -> Iterator[Difference]:
    sums = {
        sid: (int(g or 0), int(r or 0), int(f or 0), int(n))
        for sid, g, r, f, n in db.session.execute(
            select(
                StatementLine.statement_id,
                func.sum(StatementLine.amount_fen).filter(StatementLine.kind == "sale"),
                func.sum(-StatementLine.amount_fen).filter(StatementLine.kind == "refund"),
                func.sum(StatementLine.fee_fen),
                func.count(StatementLine.id),
            ).group_by(StatementLine.statement_id)
        )
    }
    for st in db.session.scalars(select(Statement).order_by(Statement.id)):
        recorded = (st.gross_fen, st.refunds_fen, st.fee_fen, st.line_count)
        expected = sums.get(st.id, (0, 0, 0, 0))
        if recorded != expected:
            yield Difference(
                CHECK, f"statement:{st.period}:{st.producer_id}", recorded, expected, "totals vs lines"
            )
        if st.payable_fen != st.gross_fen - st.refunds_fen - st.fee_fen:
            yield Difference(
                CHECK, f"statement:{st.period}:{st.producer_id}", st.payable_fen,
                st.gross_fen - st.refunds_fen - st.fee_fen, "payable = gross - refunds - fee",
            )  # fmt: skip


def _lines_vs_sources() -> Iterator[Difference]:
    for line, total in db.session.execute(
        select(StatementLine, OrderLine.line_total_fen)
        .join(OrderLine, OrderLine.id == StatementLine.order_line_id)
        .where(StatementLine.kind == "sale")
    ):
        if line.amount_fen != total:
            yield Difference(CHECK, line.source_key, line.amount_fen, total, "settled vs order line")
    for line, amount in db.session.execute(
        select(StatementLine, CounterSaleLine.amount_fen).join(
            CounterSaleLine, CounterSaleLine.id == StatementLine.counter_line_id
        )
    ):
        if line.amount_fen != amount:
            yield Difference(CHECK, line.source_key, line.amount_fen, amount, "settled vs counter sale line")
    for line, refund_lines in db.session.execute(
        select(StatementLine, Refund.lines).join(Refund, Refund.id == StatementLine.refund_id)
    ):
        expected = -sum(int(p.get("amount_fen") or 0) for p in refund_lines or [] if p.get("sku") == line.sku)
        if line.amount_fen != expected:
            yield Difference(CHECK, line.source_key, line.amount_fen, expected, "settled vs refund")
    for line in db.session.scalars(select(StatementLine)):
        if line.fee_fen != fee_of(line.amount_fen, line.fee_bp):
            yield Difference(
                CHECK, line.source_key, line.fee_fen, fee_of(line.amount_fen, line.fee_bp), "fee"
            )


def _against_aid_ledger() -> Iterator[Difference]:
    """Per settled source and producer: settled amount = the aid ledger's amount for it."""
    settled: dict[tuple[str, int], int] = defaultdict(int)
    rows = db.session.execute(
        select(
            StatementLine.kind, StatementLine.order_id, StatementLine.refund_id, CounterSale.id,
            StatementLine.producer_id, StatementLine.amount_fen, Order.aid_counted,
        )
        .outerjoin(Order, Order.id == StatementLine.order_id)
        .outerjoin(CounterSaleLine, CounterSaleLine.id == StatementLine.counter_line_id)
        .outerjoin(CounterSale, CounterSale.id == CounterSaleLine.sale_id)
    )  # fmt: skip
    for kind, order_id, refund_id, sale_id, producer_id, amount, counted in rows:
        if sale_id is not None:
            settled[(f"counter-sale:{sale_id}", producer_id)] += amount
        elif counted and kind == "refund":
            settled[(f"refund:{refund_id}", producer_id)] += amount
        elif counted:
            settled[(f"order:{order_id}", producer_id)] += amount
    if not settled:
        return
    sources = sorted({s for s, _ in settled})
    ledger: dict[tuple[str, int], int] = defaultdict(int)
    for i in range(0, len(sources), 500):
        for source, producer_id, total in db.session.execute(
            select(AidEntry.source, AidEntry.producer_id, func.sum(AidEntry.amount_fen))
            .where(AidEntry.source.in_(sources[i : i + 500]))
            .group_by(AidEntry.source, AidEntry.producer_id)
        ):
            ledger[(source, producer_id)] = int(total or 0)
    for key, amount in sorted(settled.items()):
        if ledger.get(key, 0) != amount:
            yield Difference(
                CHECK, f"{key[0]}@producer:{key[1]}", amount, ledger.get(key, 0), "settled vs aid ledger"
            )


def check_settlement() -> Iterator[Difference]:
    yield from _statement_totals()
    yield from _lines_vs_sources()
    yield from _against_aid_ledger()


register_source_checker(CHECK, check_settlement)
