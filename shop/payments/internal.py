"""Gateways whose money never leaves the shop's books: a work unit's account and its pickup cards.

``account``: an order paid on account (直接采购 with payment terms) is charged to the unit's account and
paid later by bank transfer; a refund books a credit on that account. ``pickup_card``: a card's balance
paid the order; a refund gives that amount back to the card. Each refund is booked once under its own
key (``refund:<id>``), so the task that sends refunds may run it twice.
"""

from __future__ import annotations

from sqlalchemy import select

from shop.core import clock
from shop.core.db import atomic, db
from shop.orders.models import order_reference
from shop.payments.errors import WrongGateway
from shop.payments.gateway import IntentResult, RefundResult
from shop.workunits import cards
from shop.workunits.models import AccountEntry


class AccountGateway:
    name = "account"

    def create_intent(self, order) -> IntentResult:
        raise WrongGateway(f"order {order.number} is paid on account, not online")

    def cancel_intent(self, payment) -> None:
        return None

    def refund(self, refund, payment) -> RefundResult:
        key = f"refund:{refund.id}"
        with atomic():
            charge = db.session.scalar(
                select(AccountEntry).where(
                    AccountEntry.order_id == payment.order_id, AccountEntry.kind == "charge"
                )
            )
            if charge is None:
                return RefundResult(status="failed", failure="no charge on a unit account for this order")
            if db.session.scalar(select(AccountEntry.id).where(AccountEntry.source_key == key)) is None:
                db.session.add(
                    AccountEntry(
                        unit_id=charge.unit_id,
                        kind="credit",
                        amount_fen=-refund.amount_fen,
                        source_key=key,
                        order_id=payment.order_id,
                        reference=refund.reason[:120],
                        booked_on=clock.today(),
                    )
                )
        return RefundResult(status="succeeded", provider_ref=f"account-{key}")


class PickupCardGateway:
    name = "pickup_card"

    def create_intent(self, order) -> IntentResult:
        raise WrongGateway(f"order {order.number} was paid with a pickup card")

    def cancel_intent(self, payment) -> None:
        return None

    def refund(self, refund, payment) -> RefundResult:
        key = f"refund:{refund.id}"
        with atomic():
            paid = cards.redemption_for(order_reference(payment.order_id))
            if paid is None:
                return RefundResult(status="failed", failure="no card paid this order")
            cards.restore(paid.card_id, refund.amount_fen, source_key=key, order_id=payment.order_id)
        return RefundResult(status="succeeded", provider_ref=f"card-{key}")
