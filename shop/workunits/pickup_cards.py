"""Pickup cards (提货卡): issue a batch to a unit, and pay an online order with a card.

A batch is charged to the unit's account like an order on account (so only a verified unit gets one);
its codes are shown once, in the answer that issues them, and only their hashes are kept. Cards count
toward aid when they pay for goods, as their unit's direct purchase (while the unit is verified), never
when issued. A card pays part by part until its balance is spent; an order is paid by one card that
covers it. Counter sales paid with a card are in ``shop.inventory.sales``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.audit.services import record
from shop.core import clock
from shop.core.db import db, utcnow
from shop.orders import lifecycle
from shop.orders.errors import BadTransition
from shop.orders.models import Order
from shop.payments.models import Payment
from shop.payments.services import cancel_open_payments
from shop.workunits import cards, codes
from shop.workunits.account import charge
from shop.workunits.errors import CardBatchIssued, InvalidUnitData, UnitNotVerified
from shop.workunits.models import CardRedemption, PickupCard, PickupCardBatch, WorkUnit
from shop.workunits.services import get_unit
from shop.workunits.standing import unit_standing

MAX_CARDS = 1000
# Anonymous prepaid cards may hold at most 1,000 yuan each (PBOC rules for single-purpose cards).
MAX_VALUE_FEN = 100_000
MAX_YEARS = 5


@dataclass(frozen=True)
class IssuedBatch:
    batch: PickupCardBatch
    codes: list[str]  # shown once, never stored


def issue_batch(
    account_id: int,
    *,
    count: int,
    value_fen: int,
    expires_on: date,
    actor: User,
    request_key: str | None = None,
) -> IssuedBatch:
    """Issue ``count`` cards of ``value_fen`` each to a verified unit, charged to its account."""
    unit = get_unit(account_id)
    errors = []
    if not 1 <= count <= MAX_CARDS:
        errors.append({"field": "count", "message": f"1 to {MAX_CARDS}"})
    if not 1 <= value_fen <= MAX_VALUE_FEN:
        errors.append({"field": "value_fen", "message": f"1 to {MAX_VALUE_FEN} fen per card"})
    today = clock.today()
    if expires_on <= today or expires_on > today + timedelta(days=366 * MAX_YEARS):
        errors.append({"field": "expires_on", "message": f"after today, within {MAX_YEARS} years"})
    if errors:
        raise InvalidUnitData("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    if not unit.verified:
        raise UnitNotVerified(
            f"{unit.legal_name} is {unit.verification}: cards are issued on account to verified units only"
        )
    if request_key:
        earlier = db.session.scalar(
            select(PickupCardBatch).where(
                PickupCardBatch.issued_by_id == actor.id, PickupCardBatch.request_key == request_key
            )
        )
        if earlier is not None:
            raise CardBatchIssued(
                f"this request issued batch {earlier.id} already; its codes were shown once and are not kept",
                batch=earlier.id,
            )
    batch = PickupCardBatch(
        unit_id=unit.id,
        count=count,
        value_fen=value_fen,
        expires_on=expires_on,
        issued_by_id=actor.id,
        request_key=request_key,
    )
    db.session.add(batch)
    db.session.flush()
    shown = []
    for _ in range(count):
        code = codes.new_card_code()
        shown.append(codes.show_card_code(code))
        db.session.add(
            PickupCard(
                batch_id=batch.id,
                unit_id=unit.id,
                code_hash=codes.card_hash(code),
                hint=code[-4:],
                value_fen=value_fen,
                balance_fen=value_fen,
                expires_on=expires_on,
            )
        )
    db.session.flush()
    charge(
        unit,
        batch.total_fen,
        source_key=f"card-batch:{batch.id}",
        card_batch_id=batch.id,
        reference=f"提货卡 {count} × ¥{value_fen / 100:.2f}",
        actor_id=actor.id,
    )
    record(
        actor, "pickup_cards.issued", target_type="work_unit", target_id=account_id,
        batch=batch.id, count=count, value_fen=value_fen, expires_on=expires_on.isoformat(),
    )  # fmt: skip
    return IssuedBatch(batch, shown)


def pay_order_with_card(order_id: int, *, code: str, buyer: User, now: datetime | None = None) -> Order:
    """Pay a pending order with a pickup card whose balance covers it (wrong codes throttled)."""
    now = now or utcnow()
    card = cards.find_card(code, who=("user", str(buyer.id)), field="code")
    order = lifecycle.lock_order(order_id)
    lifecycle.ensure_buyer(order, buyer)
    if order.status != "pending_payment" or clock.aware(order.reserved_until) < now:
        raise BadTransition(
            f"order {order.number} is {order.status}; it cannot be paid now", status_now=order.status
        )
    cards.redeem(
        card, order.total_fen, source_key=order.reference_key, on=clock.local_day(now),
        order_id=order.id, actor_id=buyer.id,
    )  # fmt: skip
    db.session.add(
        Payment(
            order_id=order.id,
            gateway="pickup_card",
            provider_ref=f"card-order-{order.id}",
            method="pickup_card",
            amount_fen=order.total_fen,
            currency=order.currency,
            status="succeeded",
            note=f"card …{card.hint}",
            succeeded_at=now,
        )
    )
    db.session.flush()
    lifecycle.mark_paid(
        order,
        amount_fen=order.total_fen,
        paid_at=now,
        actor_id=buyer.id,
        reason=f"paid with pickup card …{card.hint}",
        standing=unit_standing(db.session.get(WorkUnit, card.unit_id)),
    )
    if order.gateway != "manual":
        cancel_open_payments(order)
    return order


@dataclass(frozen=True)
class BatchSummary:
    batch: PickupCardBatch
    unit: WorkUnit
    redeemed_fen: int
    balance_fen: int  # still on the cards (spendable if not expired)


def batches(*, unit: WorkUnit | None = None, limit: int = 200) -> list[BatchSummary]:
    stmt = (
        select(PickupCardBatch, WorkUnit, func.sum(PickupCard.balance_fen))
        .join(WorkUnit, WorkUnit.id == PickupCardBatch.unit_id)
        .join(PickupCard, PickupCard.batch_id == PickupCardBatch.id)
        .group_by(PickupCardBatch.id, WorkUnit.id)
        .order_by(PickupCardBatch.id.desc())
        .limit(limit)
    )
    if unit is not None:
        stmt = stmt.where(PickupCardBatch.unit_id == unit.id)
    out = []
    for batch, u, balance in db.session.execute(stmt):
        out.append(BatchSummary(batch, u, batch.total_fen - int(balance or 0), int(balance or 0)))
    return out


def card_redemptions(card: PickupCard) -> list[CardRedemption]:
    return list(
        db.session.scalars(
            select(CardRedemption).where(CardRedemption.card_id == card.id).order_by(CardRedemption.id)
        )
    )
