"""The aid ledger's check of pickup-card payments (registered with ``shop.aid.reconcile``).

Cards count toward aid only through what they paid for (orders and counter sales, checked by their own
checkers); this one proves the cards' side adds up: every card's face value minus its balance equals
what its redemptions took (less what refunds gave back), each batch was charged to its unit's account
once at its full value, and every counter sale or order a card paid is counted in the ledger under the
card's unit (``buyer_id``), as the unit's purchase.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.aid.reconcile import Difference, register_source_checker
from shop.core.db import db
from shop.workunits.models import AccountEntry, CardRedemption, PickupCard, PickupCardBatch, WorkUnit


def check_pickup_cards() -> Iterator[Difference]:
    taken = dict(
        db.session.execute(
            select(CardRedemption.card_id, func.sum(CardRedemption.amount_fen)).group_by(
                CardRedemption.card_id
            )
        ).all()
    )
    for card_id, value, balance in db.session.execute(
        select(PickupCard.id, PickupCard.value_fen, PickupCard.balance_fen).order_by(PickupCard.id)
    ):
        if value - balance != int(taken.get(card_id) or 0):
            yield Difference(
                "pickup_cards", f"card:{card_id}", value - balance, int(taken.get(card_id) or 0),
                "value spent vs. redemptions",
            )  # fmt: skip
    charged = dict(
        db.session.execute(
            select(AccountEntry.card_batch_id, func.sum(AccountEntry.amount_fen))
            .where(AccountEntry.card_batch_id.is_not(None), AccountEntry.kind == "charge")
            .group_by(AccountEntry.card_batch_id)
        ).all()
    )
    for batch in db.session.scalars(select(PickupCardBatch).order_by(PickupCardBatch.id)):
        if int(charged.get(batch.id) or 0) != batch.total_fen:
            yield Difference(
                "pickup_cards", f"card-batch:{batch.id}", int(charged.get(batch.id) or 0), batch.total_fen,
                "batch charged to the unit's account",
            )  # fmt: skip
    counted = dict(
        db.session.execute(
            select(AidEntry.source, func.min(AidEntry.buyer_id))
            .where(AidEntry.reverses_id.is_(None))
            .group_by(AidEntry.source)
            .where(
                AidEntry.source.in_(select(CardRedemption.source_key).where(CardRedemption.kind == "redeem"))
            )
        ).all()
    )
    for source, account_id in db.session.execute(
        select(CardRedemption.source_key, WorkUnit.account_id)
        .join(PickupCard, PickupCard.id == CardRedemption.card_id)
        .join(WorkUnit, WorkUnit.id == PickupCard.unit_id)
        .where(CardRedemption.kind == "redeem")
        .order_by(CardRedemption.id)
    ):
        if counted.get(source) != account_id:
            yield Difference(
                "pickup_cards", source, counted.get(source), account_id, "card purchase counted for its unit"
            )


register_source_checker("pickup_cards", check_pickup_cards)
