"""The manual gateway (embedded default): the buyer pays at the pickup hall or by bank transfer, and
staff confirm the payment in the console or through the API. Refunds are paid out by staff the same way;
recording the refund is the instruction to do so."""

from __future__ import annotations

from shop.payments.errors import WrongGateway
from shop.payments.gateway import IntentResult, RefundResult


class ManualGateway:
    name = "manual"

    def create_intent(self, order) -> IntentResult:
        raise WrongGateway(f"order {order.number} is paid at the hall or by transfer, not online")

    def cancel_intent(self, payment) -> None:
        return None  # nothing was started outside the shop

    def refund(self, refund, payment) -> RefundResult:
        return RefundResult(status="succeeded", provider_ref=None)
