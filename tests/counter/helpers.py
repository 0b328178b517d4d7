"""Signing in and posting the counter's JSON as the tablet does (session cookie and CSRF header)."""

from __future__ import annotations

from shop.accounts.services import find_user_by_email
from tests.conftest import sign_in_session


def signed_in(client, email: str):
    sign_in_session(client, find_user_by_email(email))
    return client


def snapshot(client, code: str = "DL-HM"):
    return client.get(f"/counter/{code}/snapshot.json")


def sync(client, sales: list[dict], code: str = "DL-HM", csrf: str | None = None):
    token = csrf if csrf is not None else snapshot(client, code).json["csrf_token"]
    return client.post(f"/counter/{code}/sync", json={"sales": sales}, headers={"X-CSRFToken": token})


def sale(
    client_sale_id: str, sku: str = "SHOE-1", quantity: int = 1, paid_with: str = "cash", **extra
) -> dict:
    return {
        "client_sale_id": client_sale_id,
        "lines": [{"sku": sku, "quantity": quantity}],
        "paid_with": paid_with,
        **extra,
    }
