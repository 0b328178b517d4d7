"""Monthly settlement: one statement per producer and month, every sale line settled exactly once.

A run of a period settles, per producer, every item not settled before whose moment is before the run's
cutoff (the end of the period, or now for the current month): paid order lines of any kind of order
(online, pre-order, pickup card, work unit), counter sale lines, and the part of each refund that fell on
one of the producer's order lines (a negative line). Items of earlier months that were not settled yet
(a counter sale uploaded late, a refund of a line settled last month) are carried into this statement.

Exactly once: every line's ``source_key`` is unique and inserted with ON CONFLICT DO NOTHING, each
producer is settled in its own transaction under the lock of its statement row, and the totals are
recomputed from the lines. A crash half-way leaves whole producers settled; running again settles the
rest. A statement that is approved or paid never changes: what arrives for it waits for the next run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.accounts.models import User
from shop.aid.models import AidEntry
from shop.catalog.models import Producer, Product, Variant
from shop.core import clock
from shop.core.db import atomic, db, utcnow
from shop.inventory.models import CounterSale, CounterSaleLine
from shop.orders.models import Order, OrderLine
from shop.payments.models import Payment, Refund
from shop.producers.errors import (
    InvalidPayout,
    InvalidPeriod,
    PayoutAlreadyRecorded,
    StatementNotFound,
    StatementState,
)
from shop.producers.fees import FeeSchedule, fee_of
from shop.producers.models import SettlementRun, Statement, StatementLine

PERIOD_RE = re.compile(r"(\d{4})-(\d{2})")
REFERENCE_RE = re.compile(r"[0-9A-Za-z\-_/.: ]{1,80}")
# Aid ledger channels of an order and what a statement calls them.
AID_TO_SETTLEMENT = {"online": "online", "work_unit": "work_unit", "subscription": "preorder"}
PREORDER_KINDS = ("pledge",)  # harvest pre-orders (shop.preorders): orders of kind "pledge"


def _settleable():
    """Orders whose lines a statement may hold: a pledge only once the harvest filled it (its aid counted);
    a pledge refunded before then never reaches a statement, neither its sale nor its refund."""
    return or_(Order.kind != "pledge", Order.aid_counted.is_(True))


@dataclass(frozen=True)
class Period:
    code: str
    first: date
    start: datetime
    end: datetime


def parse_period(code: str) -> Period:
    """``YYYY-MM`` as Beijing month bounds; refuse malformed months and months not begun yet."""
    m = PERIOD_RE.fullmatch(code or "")
    bad = None
    if m is None:
        bad = "a month as YYYY-MM"
    else:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12 or not 2000 <= year <= 2100:
            bad = "a month as YYYY-MM"
        elif date(year, month, 1) > clock.month_start(clock.today()):
            bad = "this month or an earlier one, not the future"
    if bad:
        raise InvalidPeriod(f"period must be {bad}", errors=[{"field": "period", "message": bad}])
    first = date(int(m.group(1)), int(m.group(2)), 1)
    return Period(code, first, clock.day_start(first), clock.day_start(clock.next_month(first)))


def previous_period(today: date | None = None) -> str:
    first = clock.month_start(today or clock.today())
    last_month = date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)
    return last_month.strftime("%Y-%m")


def _insert(table):
    return (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(table)


# -- what there is to settle ---------------------------------------------------------------------------


def _unsettled_order_lines(cutoff: datetime, producer_id: int | None = None, since: datetime | None = None):
    stmt = (
        select(OrderLine, Order)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.paid_at.is_not(None), Order.paid_at < cutoff, _settleable())
    )
    if since is None:
        stmt = stmt.where(
            ~exists().where(StatementLine.order_line_id == OrderLine.id, StatementLine.kind == "sale")
        )
    else:
        stmt = stmt.where(Order.paid_at >= since)
    if producer_id is not None:
        stmt = stmt.where(OrderLine.producer_id == producer_id)
    return stmt


def _unsettled_refunds(cutoff: datetime, producer_id: int, since: datetime | None = None):
    stmt = (
        select(Refund, Order)
        .join(Order, Order.id == Refund.order_id)
        .where(
            Refund.created_at < cutoff,
            Order.paid_at.is_not(None),
            _settleable(),
            exists().where(OrderLine.order_id == Order.id, OrderLine.producer_id == producer_id),
        )
        .order_by(Refund.id)
    )
    if since is None:
        return stmt.where(
            ~exists().where(StatementLine.refund_id == Refund.id, StatementLine.producer_id == producer_id)
        )
    return stmt.where(Refund.created_at >= since)


def _unsettled_counter_lines(cutoff: datetime, producer_id: int | None = None, since: datetime | None = None):
    stmt = (
        select(CounterSaleLine, CounterSale, Product.producer_id)
        .join(CounterSale, CounterSale.id == CounterSaleLine.sale_id)
        .join(Variant, Variant.id == CounterSaleLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(CounterSale.made_at < cutoff)
    )
    if since is None:
        stmt = stmt.where(~exists().where(StatementLine.counter_line_id == CounterSaleLine.id))
    else:
        stmt = stmt.where(CounterSale.made_at >= since)
    if producer_id is not None:
        stmt = stmt.where(Product.producer_id == producer_id)
    return stmt


def producers_with_unsettled(cutoff: datetime) -> list[int]:
    """Producers with anything not settled before ``cutoff`` (sale lines, counter lines, refunds)."""
    ids: set[int] = set()
    ids.update(
        db.session.scalars(_unsettled_order_lines(cutoff).with_only_columns(OrderLine.producer_id).distinct())
    )
    ids.update(
        db.session.scalars(_unsettled_counter_lines(cutoff).with_only_columns(Product.producer_id).distinct())
    )
    refunded_orders = select(Refund.order_id).where(Refund.created_at < cutoff)
    refund_producers = db.session.scalars(
        select(OrderLine.producer_id).where(OrderLine.order_id.in_(refunded_orders)).distinct()
    )
    for pid in refund_producers:
        if pid not in ids and db.session.execute(_unsettled_refunds(cutoff, pid).limit(1)).first():
            ids.add(pid)
    return sorted(ids)


def _order_channels(orders: list[Order]) -> dict[int, str]:
    """How each order reached the producer: pickup card, pre-order, work unit or online."""
    ids = [o.id for o in orders]
    if not ids:
        return {}
    by_card = set(
        db.session.scalars(
            select(Payment.order_id).where(
                Payment.order_id.in_(ids), Payment.gateway == "pickup_card", Payment.status == "succeeded"
            )
        )
    )
    aid = dict(
        db.session.execute(
            select(AidEntry.source, func.min(AidEntry.channel))
            .where(AidEntry.source.in_([o.reference_key for o in orders]), AidEntry.reverses_id.is_(None))
            .group_by(AidEntry.source)
        ).all()
    )
    out = {}
    for o in orders:
        kind = getattr(o, "kind", None)  # pre-orders are orders of their own kind
        if o.id in by_card:
            out[o.id] = "card"
        elif isinstance(kind, str) and kind in PREORDER_KINDS:
            out[o.id] = "preorder"
        else:
            out[o.id] = AID_TO_SETTLEMENT.get(
                aid.get(o.reference_key), "work_unit" if o.buyer_kind == "work_unit" else "online"
            )
    return out


def sale_items(producer_id: int, cutoff: datetime, *, since: datetime | None = None) -> list[dict]:
    """The rows of the lines to add for one producer (not settled before, before ``cutoff``); with
    ``since``, every item in ``[since, cutoff)`` instead, settled or not (the portal's month)."""
    fees = FeeSchedule(producer_id)
    rows: list[dict] = []
    sold = db.session.execute(_unsettled_order_lines(cutoff, producer_id, since).order_by(OrderLine.id)).all()
    refunds = db.session.execute(_unsettled_refunds(cutoff, producer_id, since)).all()
    channels = _order_channels([o for _, o in sold] + [o for _, o in refunds])
    for line, order in sold:
        bp = fees.at(order.paid_at)
        rows.append(
            dict(
                source_key=f"order-line:{line.id}", kind="sale", channel=channels[order.id],
                order_id=order.id, order_line_id=line.id, reference=order.number,
                variant_id=line.variant_id, sku=line.sku, name_zh=line.name_zh, quantity=line.quantity,
                amount_fen=line.line_total_fen, fee_bp=bp, fee_fen=fee_of(line.line_total_fen, bp),
                occurred_at=order.paid_at,
            )
        )  # fmt: skip
    for refund, order in refunds:
        by_sku = {ln.sku: ln for ln in order.lines}
        for part in refund.lines or []:
            line = by_sku.get(part.get("sku"))
            amount = int(part.get("amount_fen") or 0)
            if line is None or line.producer_id != producer_id or amount <= 0:
                continue
            bp = fees.at(order.paid_at)  # a refund gives back the fee of the sale it reverses
            rows.append(
                dict(
                    source_key=f"refund:{refund.id}:line:{line.id}", kind="refund",
                    channel=channels[order.id], order_id=order.id, order_line_id=line.id,
                    refund_id=refund.id, reference=order.number, variant_id=line.variant_id, sku=line.sku,
                    name_zh=line.name_zh, quantity=-int(part.get("quantity") or 0), amount_fen=-amount,
                    fee_bp=bp, fee_fen=fee_of(-amount, bp), occurred_at=refund.created_at,
                )
            )  # fmt: skip
    counter = db.session.execute(
        _unsettled_counter_lines(cutoff, producer_id, since).order_by(CounterSaleLine.id)
    )
    for line, sale, _pid in counter:
        bp = fees.at(sale.made_at)
        variant = line.variant
        rows.append(
            dict(
                source_key=f"counter-line:{line.id}", kind="sale",
                channel="card" if sale.paid_with == "pickup_card" else "hall", counter_line_id=line.id,
                reference=f"{sale.location.code}/{sale.client_sale_id}"[:40], variant_id=line.variant_id,
                sku=variant.sku, name_zh=f"{variant.product.name_zh} {variant.name_zh}"[:160],
                quantity=line.quantity, amount_fen=line.amount_fen, fee_bp=bp,
                fee_fen=fee_of(line.amount_fen, bp), occurred_at=sale.made_at,
            )
        )  # fmt: skip
    return rows


# -- statements ------------------------------------------------------------------------------------------


def _lock_statement(period: str, producer_id: int) -> Statement:
    """The statement of (period, producer), created if missing, locked for this transaction."""
    db.session.execute(
        _insert(Statement.__table__)
        .values(
            period=period, producer_id=producer_id, status="draft", gross_fen=0, refunds_fen=0, fee_fen=0,
            payable_fen=0, line_count=0, created_at=utcnow(), updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["period", "producer_id"])
    )  # fmt: skip
    return _locked(period, producer_id)


def _locked(period: str, producer_id: int) -> Statement:
    res = db.session.execute(
        update(Statement)
        .where(Statement.period == period, Statement.producer_id == producer_id)
        .values(id=Statement.id)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise StatementNotFound(f"no statement for {period}")
    return db.session.scalars(
        select(Statement)
        .where(Statement.period == period, Statement.producer_id == producer_id)
        .execution_options(populate_existing=True)
    ).one()


def _retotal(statement: Statement) -> None:
    gross, refunds, fee, count = db.session.execute(
        select(
            func.coalesce(func.sum(StatementLine.amount_fen).filter(StatementLine.kind == "sale"), 0),
            func.coalesce(func.sum(-StatementLine.amount_fen).filter(StatementLine.kind == "refund"), 0),
            func.coalesce(func.sum(StatementLine.fee_fen), 0),
            func.count(StatementLine.id),
        ).where(StatementLine.statement_id == statement.id)
    ).one()
    statement.gross_fen, statement.refunds_fen, statement.fee_fen = int(gross), int(refunds), int(fee)
    statement.payable_fen = statement.gross_fen - statement.refunds_fen - statement.fee_fen
    statement.line_count = int(count)
    statement.updated_at = utcnow()
    db.session.flush()


def settle_producer(period: Period, producer_id: int, cutoff: datetime) -> int:
    """Add one producer's unsettled items to its statement of ``period``; return how many were added.

    Runs inside the caller's unit of work. An approved or paid statement is left as it is.
    """
    if not sale_items(producer_id, cutoff):
        return 0  # e.g. a refund of other producers' lines only: no empty statement is made
    statement = _lock_statement(period.code, producer_id)
    if statement.status != "draft":
        return 0
    rows = sale_items(producer_id, cutoff)  # again, under the statement's lock
    added = 0
    if rows:
        now = utcnow()
        for row in rows:
            row.setdefault("order_id", None)
            row.setdefault("order_line_id", None)
            row.setdefault("refund_id", None)
            row.setdefault("counter_line_id", None)
            row.update(statement_id=statement.id, producer_id=producer_id, created_at=now)
        res = db.session.execute(
            _insert(StatementLine.__table__)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["source_key"])
            .returning(StatementLine.__table__.c.id)
        )
        added = len(res.all())
    _retotal(statement)
    return added


def run_settlement(period_code: str, *, trigger: str = "admin") -> list[Statement]:
    """Settle a period for every producer with something unsettled; return the period's statements.

    Each producer commits on its own (when not called inside an outer unit of work), so a crash loses
    nothing settled and a second run settles only the rest. Running with nothing new changes nothing
    (no run is recorded either).
    """
    period = parse_period(period_code)
    cutoff = min(clock.now(), period.end)
    producer_ids = producers_with_unsettled(cutoff)
    if producer_ids:
        with atomic():
            run = SettlementRun(period=period.code, trigger=trigger[:60], cutoff=cutoff)
            db.session.add(run)
        added = 0
        for producer_id in producer_ids:
            with atomic():
                added += settle_producer(period, producer_id, cutoff)
        with atomic():
            run = db.session.get(SettlementRun, run.id)
            run.finished_at = utcnow()
            run.lines_added = added
    return statements_of_period(period.code)


def statements_of_period(period: str) -> list[Statement]:
    return list(
        db.session.scalars(
            select(Statement)
            .join(Producer, Producer.id == Statement.producer_id)
            .where(Statement.period == period)
            .order_by(Producer.code)
        )
    )


def statements_of_producer(producer_id: int):
    """A query of the producer's statements, newest month first."""
    return (
        select(Statement)
        .where(Statement.producer_id == producer_id)
        .order_by(Statement.period.desc(), Statement.id.desc())
    )


def get_statement(period: str, producer_code: str) -> Statement:
    statement = db.session.scalar(
        select(Statement)
        .join(Producer, Producer.id == Statement.producer_id)
        .where(Statement.period == period, Producer.code == producer_code)
    )
    if statement is None:
        raise StatementNotFound(f"no statement of {producer_code!r} for {period!r}")
    return statement


def statement_lines(statement: Statement) -> list[StatementLine]:
    return list(
        db.session.scalars(
            select(StatementLine)
            .where(StatementLine.statement_id == statement.id)
            .order_by(StatementLine.occurred_at, StatementLine.id)
        )
    )


def approve_statement(period: str, producer_code: str, *, actor: User) -> Statement:
    """Approve a draft statement: from now on it never changes; later items go to the next run."""
    found = get_statement(period, producer_code)
    statement = _locked(found.period, found.producer_id)
    if statement.status != "draft":
        raise StatementState(f"the statement is already {statement.status}", status_now=statement.status)
    statement.status = "approved"
    statement.approved_at = utcnow()
    statement.approved_by_id = actor.id
    db.session.flush()
    return statement


def record_payout(period: str, producer_code: str, *, reference: str, actor: User) -> Statement:
    """Record that an approved statement was paid by bank transfer, with the bank's reference (once)."""
    reference = (reference or "").strip()
    if not REFERENCE_RE.fullmatch(reference):
        raise InvalidPayout(
            "reference must be the bank's reference (letters, digits, - _ / . :), 1 to 80 characters",
            errors=[{"field": "reference", "message": "1 to 80 letters, digits or - _ / . :"}],
        )
    found = get_statement(period, producer_code)
    statement = _locked(found.period, found.producer_id)
    if statement.status == "paid":
        raise PayoutAlreadyRecorded(
            f"the payout was already recorded with reference {statement.paid_reference}",
            paid_reference=statement.paid_reference,
        )
    if statement.status != "approved":
        raise StatementState("approve the statement before recording its payout", status_now=statement.status)
    if statement.payable_fen <= 0:
        raise StatementState("nothing is payable on this statement", status_now=statement.status)
    statement.status = "paid"
    statement.paid_reference = reference
    statement.paid_at = utcnow()
    statement.paid_by_id = actor.id
    db.session.flush()
    return statement
