"""Pickup-card balances: find a card by its code (guesses throttled), take value from it, give it back.

The balance changes only here, by one conditional UPDATE each time
(``SET balance = balance - :a WHERE id = :id AND balance >= :a AND expires_on >= :today``): the database
decides, so any number of concurrent redemptions of one card can never take more than it holds (CHECK
constraints back this up). Each change writes a ``CardRedemption`` row with a unique source key in the
same transaction, so a retried payment, a replayed counter sale or a re-sent refund moves value once.

This module sits below inventory and payments (counter sales and the card gateway use it) and knows
nothing of orders or the aid ledger.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from shop.core import clock
from shop.core.db import db
from shop.core.limits import failure_throttle
from shop.workunits import codes
from shop.workunits.errors import CardBalanceShort, CardExpired, CardNotFound, TooManyWrongCards
from shop.workunits.models import CardRedemption, PickupCard


def find_card(code: str, *, who: tuple[str, ...], field: str = "card_code") -> PickupCard:
    """The active card with ``code``; wrong codes count against ``who`` (a buyer, or a hall and its
    operator) and after RATE_LIMIT_CARD_CODES of them every try is refused (429) for a while."""
    throttle = failure_throttle("pickup-cards", "RATE_LIMIT_CARD_CODES")
    if throttle and (wait := throttle.retry_after(*who)):
        raise TooManyWrongCards(f"too many wrong card codes; try again in {wait} s", retry_after=wait)
    card = None
    if codes.looks_like_card_code(code or ""):
        card = db.session.scalar(
            select(PickupCard).where(PickupCard.code_hash == codes.card_hash(code), PickupCard.active)
        )
    if card is None:
        if throttle:  # counted now, not after commit: the caller's transaction rolls back on this error
            throttle.failed(*who)
        raise CardNotFound(
            "no pickup card has this code", errors=[{"field": field, "message": "no such card"}]
        )
    return card


def redeem(
    card: PickupCard,
    amount_fen: int,
    *,
    source_key: str,
    on: date | None = None,
    order_id: int | None = None,
    counter_sale_id: int | None = None,
    location_id: int | None = None,
    actor_id: int | None = None,
) -> CardRedemption:
    """Take ``amount_fen`` from ``card`` for one purchase (``source_key``), or refuse and change nothing."""
    day = on or clock.today()
    if card.expires_on < day:
        raise CardExpired(
            f"card …{card.hint} expired on {card.expires_on.isoformat()}",
            errors=[{"field": "card_code", "message": "expired"}],
        )
    res = db.session.execute(
        update(PickupCard)
        .where(
            PickupCard.id == card.id,
            PickupCard.active.is_(True),
            PickupCard.balance_fen >= amount_fen,
            PickupCard.expires_on >= day,
        )
        .values(balance_fen=PickupCard.balance_fen - amount_fen)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        db.session.refresh(card)
        raise CardBalanceShort(
            f"card …{card.hint} holds {card.balance_fen} fen, not {amount_fen}",
            errors=[{"field": "card_code", "message": f"balance {card.balance_fen} fen"}],
            balance_fen=card.balance_fen,
        )
    row = CardRedemption(
        card_id=card.id,
        kind="redeem",
        amount_fen=amount_fen,
        source_key=source_key,
        order_id=order_id,
        counter_sale_id=counter_sale_id,
        location_id=location_id,
        actor_id=actor_id,
    )
    db.session.add(row)
    db.session.flush()
    db.session.refresh(card)
    return row


def restore(card_id: int, amount_fen: int, *, source_key: str, order_id: int | None = None) -> bool:
    """Give ``amount_fen`` back to a card (a refund of what it paid); once per ``source_key``.

    Returns False when this source was restored already. Never above the card's face value.
    """
    if db.session.scalar(select(CardRedemption.id).where(CardRedemption.source_key == source_key)):
        return False
    db.session.add(
        CardRedemption(
            card_id=card_id, kind="restore", amount_fen=-amount_fen, source_key=source_key, order_id=order_id
        )
    )
    db.session.flush()  # the unique source key stops a concurrent second restore here
    res = db.session.execute(
        update(PickupCard)
        .where(PickupCard.id == card_id, PickupCard.balance_fen + amount_fen <= PickupCard.value_fen)
        .values(balance_fen=PickupCard.balance_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise CardBalanceShort(f"card {card_id} cannot take back {amount_fen} fen above its value")
    return True


def redemption_for(source_key: str) -> CardRedemption | None:
    return db.session.scalar(select(CardRedemption).where(CardRedemption.source_key == source_key))
