"""A unit's account: orders and card batches on credit, bank transfers received, monthly statements.

A verified unit may pay an order on account (挂账): the order is paid at once (fulfilled, counted as the
unit's direct purchase) and its total is charged to the unit's account, due after the unit's terms (30
days unless an officer says otherwise). Finance records the bank transfers that come in. Payments and
credits (refunds) settle the oldest charges first, so a unit is overdue by what it was charged with a due
date before today minus everything it has paid or been credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from shop.accounts.models import User
from shop.audit.services import record
from shop.core import clock
from shop.core.db import db, utcnow
from shop.notifications.services import notify
from shop.orders import lifecycle
from shop.orders.models import Order
from shop.payments.models import Payment
from shop.payments.services import cancel_open_payments
from shop.workunits.errors import InvalidAccountPayment, NotPayableOnAccount, UnitNotVerified
from shop.workunits.models import AccountEntry, WorkUnit
from shop.workunits.services import get_unit
from shop.workunits.standing import unit_of, unit_standing


def charge(
    unit: WorkUnit,
    amount_fen: int,
    *,
    source_key: str,
    order_id: int | None = None,
    card_batch_id: int | None = None,
    reference: str = "",
    actor_id: int | None = None,
) -> AccountEntry:
    """Charge the unit's account, due after its terms."""
    today = clock.today()
    entry = AccountEntry(
        unit_id=unit.id,
        kind="charge",
        amount_fen=amount_fen,
        source_key=source_key,
        order_id=order_id,
        card_batch_id=card_batch_id,
        reference=reference[:120],
        booked_on=today,
        due_on=today + timedelta(days=unit.payment_terms_days),
        actor_id=actor_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def pay_order_on_account(order_id: int, *, buyer: User, now: datetime | None = None) -> Order:
    """Pay a pending order of a verified unit's login on the unit's account (once)."""
    now = now or utcnow()
    order = lifecycle.lock_order(order_id)
    lifecycle.ensure_buyer(order, buyer)
    unit = unit_of(order.user_id)
    if unit is None:
        raise NotPayableOnAccount(f"order {order.number} is not a work unit's order")
    if not unit.verified:
        raise UnitNotVerified(
            f"{unit.legal_name} is {unit.verification}: only verified units buy on account",
            verification=unit.verification,
        )
    if order.status != "pending_payment" or clock.aware(order.reserved_until) < now:
        raise NotPayableOnAccount(
            f"order {order.number} is {order.status}; it cannot be paid on account", status_now=order.status
        )
    db.session.add(
        Payment(
            order_id=order.id,
            gateway="account",
            provider_ref=f"account-order-{order.id}",
            method="transfer",
            amount_fen=order.total_fen,
            currency=order.currency,
            status="succeeded",
            note=f"on account, {unit.payment_terms_days} days",
            confirmed_by_id=buyer.id,
            succeeded_at=now,
        )
    )
    db.session.flush()
    charge(unit, order.total_fen, source_key=order.reference_key, order_id=order.id, reference=order.number)
    lifecycle.mark_paid(
        order,
        amount_fen=order.total_fen,
        paid_at=now,
        actor_id=buyer.id,
        reason="paid on the unit's account",
        standing=unit_standing(unit),
    )
    if order.gateway != "manual":
        cancel_open_payments(order)
    return order


def record_transfer(
    account_id: int, *, amount_fen: int, reference: str, received_on: date | None, actor: User
) -> AccountEntry:
    """Record a bank transfer received from the unit (finance); the same reference once per unit."""
    unit = get_unit(account_id)
    errors = []
    if amount_fen <= 0:
        errors.append({"field": "amount_fen", "message": "> 0"})
    if not reference.strip():
        errors.append({"field": "reference", "message": "the bank's transfer reference"})
    day = received_on or clock.today()
    if day > clock.today():
        errors.append({"field": "received_on", "message": "in the future"})
    if errors:
        raise InvalidAccountPayment("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    key = f"transfer:{unit.id}:{reference.strip()}"[:80]
    if db.session.scalar(select(AccountEntry.id).where(AccountEntry.source_key == key)):
        raise InvalidAccountPayment(
            f"transfer {reference.strip()} was recorded already",
            errors=[{"field": "reference", "message": "already recorded"}],
        )
    entry = AccountEntry(
        unit_id=unit.id,
        kind="payment",
        amount_fen=-amount_fen,
        source_key=key,
        reference=reference.strip()[:120],
        booked_on=day,
        actor_id=actor.id,
    )
    db.session.add(entry)
    db.session.flush()
    record(
        actor, "work_unit.transfer", target_type="work_unit", target_id=account_id,
        amount_fen=amount_fen, reference=reference.strip(),
    )  # fmt: skip
    return entry


@dataclass(frozen=True)
class AccountStatus:
    balance_fen: int  # what the unit owes now (negative: paid in advance)
    overdue_fen: int  # of which past its due date
    oldest_due_on: date | None  # the earliest due date still unpaid, when overdue


def _status_rows(unit_ids: list[int] | None, as_of: date):
    e = AccountEntry
    stmt = select(
        e.unit_id,
        func.sum(e.amount_fen),
        func.sum(case((e.kind != "charge", e.amount_fen), else_=0)),
        func.sum(case(((e.kind == "charge") & (e.due_on < as_of), e.amount_fen), else_=0)),
    ).where(e.booked_on <= as_of)
    if unit_ids is not None:
        stmt = stmt.where(e.unit_id.in_(unit_ids))
    return db.session.execute(stmt.group_by(e.unit_id)).all()


def _oldest_unpaid_due(unit_id: int, paid: int, as_of: date) -> date | None:
    """The due date of the first charge not covered by ``paid`` (payments settle the oldest first)."""
    left = paid
    for amount, due in db.session.execute(
        select(AccountEntry.amount_fen, AccountEntry.due_on)
        .where(
            AccountEntry.unit_id == unit_id, AccountEntry.kind == "charge", AccountEntry.booked_on <= as_of
        )
        .order_by(AccountEntry.due_on, AccountEntry.id)
    ):
        if left >= amount:
            left -= amount
            continue
        return due
    return None


def account_status(unit: WorkUnit, *, as_of: date | None = None) -> AccountStatus:
    day = as_of or clock.today()
    rows = _status_rows([unit.id], day)
    if not rows:
        return AccountStatus(0, 0, None)
    _uid, balance, paid, due = rows[0]
    paid = -int(paid or 0)
    overdue = max(0, int(due or 0) - paid)
    return AccountStatus(
        int(balance or 0), overdue, _oldest_unpaid_due(unit.id, paid, day) if overdue else None
    )


def overdue_units(*, as_of: date | None = None) -> dict[int, int]:
    """Overdue amount of every unit that is overdue, by unit id."""
    day = as_of or clock.today()
    out = {}
    for unit_id, _balance, paid, due in _status_rows(None, day):
        overdue = int(due or 0) + int(paid or 0)
        if overdue > 0:
            out[unit_id] = overdue
    return out


@dataclass(frozen=True)
class Statement:
    unit: WorkUnit
    month: date  # first day
    opening_fen: int
    entries: list[AccountEntry]
    charges_fen: int
    payments_fen: int  # payments and credits, as a positive amount
    closing_fen: int
    overdue_fen: int


def parse_month(text: str) -> date:
    try:
        year, month = (int(p) for p in text.split("-"))
        return date(year, month, 1)
    except (ValueError, TypeError):
        raise InvalidAccountPayment(
            "month must be YYYY-MM", errors=[{"field": "month", "message": "YYYY-MM"}]
        ) from None


def statement(unit: WorkUnit, month: date) -> Statement:
    """The unit's statement for one month: opening balance, every entry, closing balance, overdue."""
    start, end = clock.month_start(month), clock.next_month(month)
    e = AccountEntry
    opening = db.session.scalar(
        select(func.coalesce(func.sum(e.amount_fen), 0)).where(e.unit_id == unit.id, e.booked_on < start)
    )
    entries = list(
        db.session.scalars(
            select(e)
            .where(e.unit_id == unit.id, e.booked_on >= start, e.booked_on < end)
            .order_by(e.booked_on, e.id)
        )
    )
    charges = sum(x.amount_fen for x in entries if x.kind == "charge")
    payments = -sum(x.amount_fen for x in entries if x.kind != "charge")
    last_day = min(end - timedelta(days=1), clock.today())
    return Statement(
        unit=unit,
        month=start,
        opening_fen=int(opening or 0),
        entries=entries,
        charges_fen=charges,
        payments_fen=payments,
        closing_fen=int(opening or 0) + charges - payments,
        overdue_fen=account_status(unit, as_of=last_day).overdue_fen if last_day >= start else 0,
    )


def send_monthly_statements(month: date) -> int:
    """Tell every unit manager whose account moved or is open that the statement of ``month`` is ready
    (once per unit and month, however often this runs); overdue units are told how much is overdue."""
    settings_link = "/work-units/me/statement?month=" + month.strftime("%Y-%m")
    start, end = clock.month_start(month), clock.next_month(month)
    active = {
        uid
        for (uid,) in db.session.execute(
            select(AccountEntry.unit_id).where(AccountEntry.booked_on < end).group_by(AccountEntry.unit_id)
        )
    }
    sent = 0
    for unit in db.session.scalars(select(WorkUnit).where(WorkUnit.id.in_(active)).order_by(WorkUnit.id)):
        st = statement(unit, start)
        if not st.entries and st.closing_fen == 0:
            continue
        overdue = f"\n逾期 Overdue: ¥{st.overdue_fen / 100:.2f}" if st.overdue_fen else ""
        notify(
            dedupe_key=f"work-unit:{unit.id}:statement:{start:%Y-%m}",
            kind="work_unit_statement",
            subject=f"{start:%Y-%m} 对账单 Statement · {unit.legal_name}",
            body=(
                f"期初 Opening ¥{st.opening_fen / 100:.2f}\n本月挂账 Charged ¥{st.charges_fen / 100:.2f}\n"
                f"本月回款 Paid ¥{st.payments_fen / 100:.2f}\n期末 Closing ¥{st.closing_fen / 100:.2f}"
                f"{overdue}\n{settings_link}"
            ),
            user=db.session.get(User, unit.account_id),
        )
        sent += 1
    return sent
