"""Builders for work-unit tests: units registered, verified and stocked through the real API."""

from __future__ import annotations

import itertools

from shop.catalog.services import get_location, variant_by_sku
from shop.core.db import atomic
from shop.inventory.services import add_stock
from shop.workunits import codes

_seq = itertools.count(1)
SKU = "SHOE-HEMP-40"


def credit_code(seed: int | None = None) -> str:
    """A valid unified social credit code (the check character computed as GB 32100-2015 says)."""
    n = next(_seq) if seed is None else seed
    body = f"91120110MA{n:07d}"[:17]
    return body + codes.credit_check_char(body)


def stock(sku: str = SKU, halls=("DL-HM", "DL-WX"), quantity: int = 2000) -> None:
    with atomic():
        for hall in halls:
            add_stock(variant_by_sku(sku), get_location(hall), quantity, kind="receipt", lot_code="WU")


def register_unit(
    api, email: str, *, title: str = "天津市东丽区某某中学", unit_type: str = "budget_unit"
) -> int:
    r = api.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": "password-123",
            "name": "采购员",
            "buyer_kind": "work_unit",
            "invoice_title": title,
            "tax_id": credit_code(),
            "unit_type": unit_type,
            "contact_phone": "13812345678",
        },
    )
    assert r.status_code == 201, r.json
    return r.json["id"]


def order(client, *, sku: str = SKU, quantity: int = 1, hall: str = "DL-HM") -> int:
    r = client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku": sku, "quantity": quantity}],
            "delivery": {"type": "pickup", "location": hall},
        },
    )
    assert r.status_code == 201, r.json
    return r.json["id"]
