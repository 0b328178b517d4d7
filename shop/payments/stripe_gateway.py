"""Stripe through the official library's ``StripeClient``: PaymentIntents in CNY for card, Alipay and
WeChat Pay, refunds, and webhook signature checks.

Every call that can move money carries an idempotency key derived from our own ids (``order-<id>-pi``,
``refund-<id>``), so a retried task or request can never create a second PaymentIntent or refund.
``STRIPE_API_BASE`` points the client at a stand-in (tests) or Stripe's mock server.
"""

from __future__ import annotations

import json
from typing import Any

import stripe

from shop.payments.errors import BadSignature, GatewayDeclined, GatewayUnavailable
from shop.payments.gateway import IntentResult, RefundResult

PAYMENT_METHOD_TYPES = ["card", "alipay", "wechat_pay"]
_REFUND_STATUS = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}


def intent_key(order_id: int) -> str:
    return f"order-{order_id}-pi"


def refund_key(refund_id: int) -> str:
    return f"refund-{refund_id}"


class StripeGateway:
    name = "stripe"

    def __init__(self, settings) -> None:
        if not settings.STRIPE_SECRET_KEY:
            raise GatewayUnavailable("Stripe is not configured (STRIPE_SECRET_KEY is empty)")
        timeout = settings.STRIPE_TIMEOUT_SECONDS
        # A bounded wait: the library's default is 80 s, which would hold a web worker hostage. A timed-out
        # call is retried once by the library with the same idempotency key, so Stripe cannot charge twice.
        kwargs: dict[str, Any] = {
            "max_network_retries": 1,
            "http_client": stripe.RequestsClient(timeout=(min(3.0, timeout), timeout)),
        }
        if settings.STRIPE_API_BASE:
            kwargs["base_addresses"] = {"api": settings.STRIPE_API_BASE.rstrip("/")}
        self.client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, **kwargs)
        self.webhook_secret = settings.STRIPE_WEBHOOK_SECRET

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(f"Stripe unavailable: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            raise GatewayDeclined(
                f"Stripe refused: {exc.user_message or exc}", code=getattr(exc, "code", None)
            ) from exc

    def create_intent(self, order) -> IntentResult:
        pi = self._call(
            self.client.v1.payment_intents.create,
            params={
                "amount": order.total_fen,
                "currency": "cny",
                "payment_method_types": PAYMENT_METHOD_TYPES,
                "payment_method_options": {"wechat_pay": {"client": "web"}},
                "description": f"Gangu aid shop order {order.number}",
                "metadata": {"order_id": str(order.id), "order_number": order.number},
            },
            options={"idempotency_key": intent_key(order.id)},
        )
        return IntentResult(
            provider_ref=pi.id,
            client_secret=pi.client_secret or "",
            status=pi.status,
            amount_fen=pi.amount,
            currency=pi.currency.upper(),
        )

    def cancel_intent(self, payment) -> None:
        try:
            self.client.v1.payment_intents.cancel(
                payment.provider_ref, options={"idempotency_key": f"{intent_key(payment.order_id)}-cancel"}
            )
        except stripe.InvalidRequestError:
            # Already succeeded or canceled: the webhook for that state decides what happens.
            return
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(f"Stripe unavailable: {exc}") from exc

    def retrieve_intent(self, provider_ref: str) -> dict:
        """The PaymentIntent as Stripe has it now, as a plain dict (what a webhook event would carry).

        Its latest charge comes expanded: the charge's ``created`` is when the buyer actually paid.
        """
        pi = self._call(
            self.client.v1.payment_intents.retrieve, provider_ref, params={"expand": ["latest_charge"]}
        )
        return pi.to_dict(for_json=True)

    def refund(self, refund, payment) -> RefundResult:
        try:
            r = self.client.v1.refunds.create(
                params={
                    "payment_intent": payment.provider_ref,
                    "amount": refund.amount_fen,
                    "metadata": {"refund_id": str(refund.id), "order_id": str(refund.order_id)},
                },
                options={"idempotency_key": refund_key(refund.id)},
            )
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(f"Stripe unavailable: {exc}") from exc
        except stripe.StripeError as exc:
            # A refusal (already fully refunded, charge disputed...) will not change on retry.
            return RefundResult(status="failed", failure=str(exc.user_message or exc)[:500])
        return RefundResult(status=_REFUND_STATUS.get(r.status or "pending", "pending"), provider_ref=r.id)

    def verify_event(self, payload: bytes, signature: str | None) -> dict:
        """Check the ``Stripe-Signature`` of a webhook body; return the event as a plain dict."""
        try:
            self.client.construct_event(payload, signature, self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise BadSignature(f"webhook rejected: {exc}") from exc
        return json.loads(payload)
