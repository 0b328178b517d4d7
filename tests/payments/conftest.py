"""A local stand-in for the few Stripe API endpoints the shop uses, and Stripe-style webhook signing.

The stand-in is a werkzeug app on port 0 in a thread. It records every request (path, form fields,
Idempotency-Key) and, like Stripe, answers a repeated idempotency key with the first response.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

WEBHOOK_SECRET = "whsec_test_secret"


@dataclass
class Recorded:
    method: str
    path: str
    form: dict
    idempotency_key: str | None
    authorization: str | None


@dataclass
class StripeStandIn:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    intents: dict[str, dict] = field(default_factory=dict)
    by_key: dict[str, tuple[int, dict]] = field(default_factory=dict)
    refund_status: str = "succeeded"
    down: bool = False
    counter: int = 0
    charges: dict[str, dict] = field(default_factory=dict)

    def settle(self, intent_id: str, status: str = "succeeded", *, at: int | None = None) -> None:
        """The buyer finished (or abandoned) the payment at Stripe (at unix time ``at``); no webhook."""
        intent = self.intents[intent_id]
        intent["status"] = status
        if status == "succeeded":
            intent["amount_received"] = intent["amount"]
            charge = self._next("ch")
            self.charges[charge] = {"id": charge, "object": "charge", "created": at or int(time.time())}
            intent["latest_charge"] = charge

    def posts(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(prefix)]

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_test{self.counter:04d}"

    def handle(self, req: Request) -> tuple[int, dict]:
        form = req.form.to_dict()
        if req.path == "/v1/payment_intents" and req.method == "POST":
            pid = self._next("pi")
            intent = {
                "id": pid,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "amount_received": 0,
                "currency": form["currency"],
                "status": "requires_payment_method",
                "client_secret": f"{pid}_secret_abc",
                "payment_method_types": [
                    v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")
                ],
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            }
            self.intents[pid] = intent
            return 200, intent
        if req.path.startswith("/v1/payment_intents/") and req.path.endswith("/cancel"):
            pid = req.path.split("/")[3]
            intent = self.intents.get(pid)
            if intent is None or intent["status"] == "succeeded":
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_intent_unexpected_state",
                        "message": "cannot cancel",
                    }
                }
            intent["status"] = "canceled"
            return 200, intent
        if req.path.startswith("/v1/payment_intents/") and req.method == "GET":
            intent = self.intents.get(req.path.split("/")[3])
            if intent is None:
                return 404, {"error": {"type": "invalid_request_error", "message": "no such payment_intent"}}
            expand = [v for k, v in req.args.items(multi=True) if k.startswith("expand[")]
            if "latest_charge" in expand and intent.get("latest_charge"):
                return 200, {**intent, "latest_charge": self.charges[intent["latest_charge"]]}
            return 200, intent
        if req.path == "/v1/refunds" and req.method == "POST":
            rid = self._next("re")
            return 200, {
                "id": rid,
                "object": "refund",
                "amount": int(form["amount"]),
                "currency": "cny",
                "status": self.refund_status,
                "payment_intent": form.get("payment_intent"),
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            }
        return 404, {"error": {"type": "invalid_request_error", "message": f"no route {req.path}"}}

    def wsgi(self, environ, start_response):
        req = Request(environ)
        if self.down:
            return Response("unavailable", status=503)(environ, start_response)
        key = req.headers.get("Idempotency-Key")
        self.requests.append(
            Recorded(req.method, req.path, req.form.to_dict(), key, req.headers.get("Authorization"))
        )
        if key and key in self.by_key:
            status, body = self.by_key[key]
        else:
            status, body = self.handle(req)
            if key:
                self.by_key[key] = (status, body)
        return Response(json.dumps(body), status=status, mimetype="application/json")(environ, start_response)


@pytest.fixture
def stripe_api() -> Iterator[StripeStandIn]:
    standin = StripeStandIn()
    server = make_server("127.0.0.1", 0, standin.wsgi, threaded=True)
    standin.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield standin
    server.shutdown()
    thread.join()


@pytest.fixture
def hold_fulfilment(seeded, monkeypatch):
    """Payment tests stop at ``paid``: the fulfilment message stays queued in the outbox instead of
    running inline (the pipeline has its own tests in tests/fulfilment)."""
    monkeypatch.delitem(seeded.extensions["celery"].tasks, "shop.fulfilment.fulfil_order")


@pytest.fixture
def stripe_shop(seeded, stripe_api, hold_fulfilment):
    """The seeded shop taking payments through Stripe (the stand-in), running outbox tasks inline."""
    settings = seeded.extensions["settings"]
    saved = {
        k: getattr(settings, k)
        for k in (
            "PAYMENT_GATEWAY",
            "STRIPE_SECRET_KEY",
            "STRIPE_PUBLISHABLE_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_API_BASE",
            "OUTBOX_DELIVERY",
            "RESERVATION_MINUTES",
        )
    }
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_standin"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_standin"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_api.url
    settings.OUTBOX_DELIVERY = "inline"
    yield seeded
    for k, v in saved.items():
        setattr(settings, k, v)


@pytest.fixture
def inline_outbox(seeded, hold_fulfilment):
    settings = seeded.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield seeded
    settings.OUTBOX_DELIVERY = "celery"


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def intent_event(
    event_id: str,
    kind: str,
    *,
    intent: str,
    order_id: int,
    amount: int,
    currency: str = "cny",
    received: int | None = None,
    created: int | None = None,
) -> dict:
    succeeded = kind == "payment_intent.succeeded"
    obj = {
        "id": intent,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": (amount if received is None else received) if succeeded else 0,
        "currency": currency,
        "status": {"payment_intent.succeeded": "succeeded", "payment_intent.canceled": "canceled"}.get(
            kind, "requires_payment_method"
        ),
        "metadata": {"order_id": str(order_id)},
    }
    if kind == "payment_intent.payment_failed":
        obj["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def deliver(client, event: dict, *, signature: str | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    sig = signature if signature is not None else sign(body)
    if sig:
        headers["Stripe-Signature"] = sig
    return client.post("/api/v1/payments/stripe/webhook", data=body, headers=headers)
