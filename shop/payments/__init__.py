"""Payments: the gateway interface (manual, Stripe), the webhook inbox and refunds."""
