"""Payment endpoints: manual confirmation by staff, the buyer's online payment, refunds, Stripe webhook."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.core.limits import limit_webhook
from shop.orders import lifecycle
from shop.orders import services as orders
from shop.orders.schemas import OrderOut, order_dict, refund_dict
from shop.payments import services, webhooks
from shop.payments.errors import StripeNotEnabled
from shop.payments.gateways import stripe_gateway
from shop.payments.schemas import IntentOut, ManualPaymentIn, RefundCreatedOut, RefundIn, WebhookOut
from shop.returns import services as returns

blp = Blueprint("payments_api", __name__, url_prefix="/api/v1", description="Payments and refunds")
SECURITY = [{"bearerAuth": []}]


@blp.route("/orders/<int:order_id>/payments/manual", methods=["POST"])
@blp.arguments(ManualPaymentIn)
@blp.response(200, OrderOut)
@blp.doc(security=SECURITY)
@require_role("operator", "admin")
def confirm_manual(data: dict, order_id: int):
    """Staff: the buyer paid at the hall or by transfer; the order becomes paid (once)."""
    staff = api_user()
    with atomic():
        order = services.confirm_manual_payment(
            order_id,
            staff=staff,
            method=data["method"],
            amount_fen=data.get("amount_fen"),
            reference=data["reference"],
        )
        return order_dict(orders.order_details(order), staff=True)


@blp.route("/orders/<int:order_id>/payments/stripe", methods=["POST"])
@blp.response(200, IntentOut)
@blp.doc(security=SECURITY)
@require_role()
def start_online_payment(order_id: int):
    """The buyer's PaymentIntent (created once per order) and the client secret for Stripe.js."""
    buyer = api_user()
    payment = services.start_online_payment(orders.order_for_viewer(order_id, buyer), buyer)
    return {
        "gateway": payment.gateway,
        "payment_intent": payment.payment_intent,
        "client_secret": payment.client_secret,
        "publishable_key": current_app.extensions["settings"].STRIPE_PUBLISHABLE_KEY,
        "amount_fen": payment.amount_fen,
        "currency": payment.currency,
    }


@blp.route("/orders/<int:order_id>/refunds", methods=["POST"])
@idempotent
@blp.arguments(RefundIn)
@blp.response(201, RefundCreatedOut)
@blp.doc(security=SECURITY)
@require_role("operator", "admin")
def create_refund(data: dict, order_id: int):
    """Staff: refund all that is left (no amount, no lines), some lines, or an amount; sent after commit."""
    staff = api_user()
    with atomic():
        refund = returns.refund_order(
            order_id,
            staff=staff,
            reason=data["reason"],
            amount_fen=data.get("amount_fen"),
            lines=data.get("lines"),
            restock_location=data.get("restock_location"),
        )
        order = orders.order_details(lifecycle.get_order(order_id))
        return {"refund": refund_dict(refund), "order": order_dict(order, staff=True)}


@blp.route("/payments/stripe/webhook", methods=["POST"])
@limit_webhook
@blp.response(200, WebhookOut)
@blp.alt_response(400, description="Missing, wrong or stale Stripe-Signature")
@blp.alt_response(404, description="Stripe is not enabled on this shop")
def stripe_webhook():
    """Stripe events (verified on the raw body, stored once by id, applied in the same transaction)."""
    settings = current_app.extensions["settings"]
    if not (settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET):
        raise StripeNotEnabled("set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to receive Stripe events")
    event = stripe_gateway().verify_event(request.get_data(), request.headers.get("Stripe-Signature"))
    with atomic():
        row, new = webhooks.receive_stripe_event(event)
        return {"received": True, "duplicate": not new, "event_id": row.event_id, "outcome": row.outcome}
