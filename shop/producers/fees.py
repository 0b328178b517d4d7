"""The producer's agreed service fee, with its history: what was in force at the moment of each sale."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime

from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Producer
from shop.core import clock
from shop.core.db import db
from shop.producers.errors import InvalidFee
from shop.producers.models import ProducerFee


def fee_of(amount_fen: int, fee_bp: int) -> int:
    """The fee on one settled amount, in whole fen, rounded toward zero (in the producer's favour).

    A refund's fee is the same rule on the negative amount, so the fees given back on a line never
    exceed the fee taken on it: floor(a) + floor(b) <= floor(a + b).
    """
    if amount_fen >= 0:
        return amount_fen * fee_bp // 10_000
    return -((-amount_fen) * fee_bp // 10_000)


def set_fee(
    producer: Producer, fee_bp: int, *, actor: User | None = None, effective_from: date | None = None
) -> ProducerFee:
    """Agree a new fee from ``effective_from`` (today when not given; never a past day).

    The producer's ``fee_bp`` column mirrors the fee in force now.
    """
    today = clock.today()
    effective_from = effective_from or today
    errors = []
    if isinstance(fee_bp, bool) or not isinstance(fee_bp, int) or not 0 <= fee_bp <= 10_000:
        errors.append({"field": "fee_bp", "message": "0 to 10000 basis points"})
    if effective_from < today:
        errors.append({"field": "effective_from", "message": "a fee cannot change the past"})
    if errors:
        raise InvalidFee("; ".join(e["message"] for e in errors), errors=errors)
    now = clock.now()
    start = clock.day_start(effective_from)
    row = ProducerFee(
        producer_id=producer.id,
        fee_bp=fee_bp,
        effective_from=effective_from,
        effective_at=max(start, now),
        set_by_id=actor.id if actor else None,
        set_at=now,
    )
    db.session.add(row)
    db.session.flush()
    producer.fee_bp = current_fee_bp(producer.id)
    db.session.flush()
    return row


def fee_history(producer_id: int) -> list[ProducerFee]:
    return list(
        db.session.scalars(
            select(ProducerFee)
            .where(ProducerFee.producer_id == producer_id)
            .order_by(ProducerFee.effective_at, ProducerFee.id)
        )
    )


class FeeSchedule:
    """The fee history of one producer, to look up the fee in force at many moments."""

    def __init__(self, producer_id: int):
        rows = fee_history(producer_id)
        self._at = [clock.aware(r.effective_at) for r in rows]
        self._bp = [r.fee_bp for r in rows]

    def at(self, moment: datetime) -> int:
        """The fee in basis points in force at ``moment`` (0 before any was agreed)."""
        i = bisect_right(self._at, clock.aware(moment))
        return self._bp[i - 1] if i else 0


def current_fee_bp(producer_id: int) -> int:
    return FeeSchedule(producer_id).at(clock.now())
