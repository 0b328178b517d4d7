"""Every API endpoint x every role, as one table: who may do what, and where.

Roles: anonymous, customer (the buyer of the orders used), other_customer, operator (of hall DL-HM,
acting on hall DL-WX unless the row says "own"), aid_officer, admin. Each cell is the expected status.
State-changing calls build fresh resources per role, so one role's success cannot change another's cell.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from shop.core import clock
from shop.core.db import atomic
from shop.demo import seed_demo
from tests.conftest import create_user

ROLES = ["anonymous", "customer", "other_customer", "operator", "aid_officer", "admin"]
USERS = {
    "customer": ("buyer@example.cn", "customer", []),
    "other_customer": ("other@example.cn", "customer", []),
    "operator": ("op-hm@example.cn", "operator", ["DL-HM"]),
    "aid_officer": ("officer@example.cn", "aid_officer", []),
    "admin": ("admin@example.cn", "admin", []),
}
_seq = itertools.count(1)


@dataclass
class Upload:
    """A multipart body with one file (the back office's uploads)."""

    content: bytes
    name: str = "file.png"
    fields: dict | None = None  # form fields sent beside the file


@dataclass
class World:
    client: object
    tokens: dict[str, str]

    def call(self, role: str, method: str, path: str, body: dict | Upload | None = None):
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role in self.tokens else {}
        if isinstance(body, Upload):
            data = {**(body.fields or {}), "file": (io.BytesIO(body.content), body.name)}
            return self.client.open(
                path, method=method, data=data, content_type="multipart/form-data", headers=headers
            )
        return self.client.open(path, method=method, json=body, headers=headers)

    def new_order(self, hall: str = "DL-WX", *, paid: bool = False) -> int:
        body = {
            "lines": [{"sku": "SHOE-HEMP-40", "quantity": 1}],
            "delivery": {"type": "pickup", "location": hall},
        }
        r = self.call("customer", "POST", "/api/v1/orders", body)
        assert r.status_code == 201, r.json
        if paid:
            p = self.call(
                "admin", "POST", f"/api/v1/orders/{r.json['id']}/payments/manual", {"method": "cash"}
            )
            assert p.status_code == 200, p.json
        return r.json["id"]

    def new_refund_request(self, hall: str = "DL-WX") -> int:
        """The customer asks to cancel a paid order picked up at ``hall`` (a refund request)."""
        order_id = self.new_order(hall, paid=True)
        r = self.call("customer", "POST", f"/api/v1/orders/{order_id}/refund-requests", {"reason": "cancel"})
        assert r.status_code == 201, r.json
        return r.json["id"]


@pytest.fixture(scope="module")
def world(pg_app):
    """One seeded shop for the whole table (each row makes the fresh resources it changes)."""
    from tests.conftest import truncate_all

    truncate_all(pg_app)
    with pg_app.app_context():
        with atomic():
            seed_demo()
            from shop.catalog.services import get_location, variant_by_sku
            from shop.inventory.services import add_stock

            for hall in ("DL-WX", "DL-HM"):
                add_stock(
                    variant_by_sku("SHOE-HEMP-40"), get_location(hall), 1000, kind="receipt", lot_code="M"
                )
        for email, role, locations in USERS.values():
            create_user(email, role=role, locations=locations)
        client = pg_app.test_client()
        tokens = {}
        for role, (email, _, _) in USERS.items():
            r = client.post("/api/v1/auth/token", json={"email": email, "password": "password-123"})
            tokens[role] = r.json["access_token"]
        yield World(client, tokens)
        from shop.core.db import db

        db.session.remove()


def _sale():
    return {
        "client_sale_id": f"m-{next(_seq)}",
        "lines": [{"sku": "SHOE-HEMP-40", "quantity": 1}],
        "paid_with": "cash",
    }


AID = f"/api/v1/aid/programmes/DL-GG-{clock.today().year}"
SOLD_ON = min(clock.today(), date(clock.today().year, 5, 19))


def _offshop_body() -> dict:
    return {
        "channel": "fair",
        "evidence_kind": "receipt",
        "evidence_number": f"M-{next(_seq)}",
        "sold_on": SOLD_ON.isoformat(),
        "lines": [{"sku": "CHL-LINE-500G", "quantity": 1, "amount_fen": 2800}],
    }


def _pending_offshop_sale() -> int:
    """A sale recorded by an officer who is none of the roles in the table (so any of them may decide)."""
    from shop.accounts.services import find_user_by_email
    from shop.aid.offshop import OffshopLineInput, record_offshop_sale

    recorder = find_user_by_email("recorder@example.cn") or create_user(
        "recorder@example.cn", role="aid_officer"
    )
    body = _offshop_body()
    with atomic():
        return record_offshop_sale(
            recorder,
            channel=body["channel"],
            evidence_kind=body["evidence_kind"],
            evidence_number=body["evidence_number"],
            sold_on=SOLD_ON,
            lines=[OffshopLineInput("CHL-LINE-500G", 1, 2800)],
        ).id


# -- work units: a verified unit ("unit@example.cn", not one of the roles) and its paid order ----------


def _unit_id(w: World) -> int:
    """The verified test unit's id (its account), registered once per module."""
    from shop.accounts.services import find_user_by_email
    from shop.workunits import services as units
    from tests.workunits.helpers import credit_code

    user = find_user_by_email("unit@example.cn")
    if user is None:
        with atomic():
            user = units.register_unit(
                units.UnitRegistration(
                    email="unit@example.cn",
                    password="password-123",
                    name="U",
                    invoice_title="某单位",
                    tax_id=credit_code(),
                    unit_type="budget_unit",
                )
            )
            units.verify_unit(user.id, note="matrix", actor=user)
    return user.id


def _pending_unit(w: World) -> int:
    """A fresh unit waiting for verification (one per call, so each role decides on its own)."""
    from shop.workunits import services as units
    from tests.workunits.helpers import credit_code

    with atomic():
        return units.register_unit(
            units.UnitRegistration(
                email=f"unit{next(_seq)}@example.cn",
                password="password-123",
                name="U",
                invoice_title="某单位",
                tax_id=credit_code(),
                unit_type="other",
            )
        ).id


def _paid_customer_order(w: World) -> int:
    return w.new_order(paid=True)


def _invoice(w: World) -> int:
    from shop.accounts.services import find_user_by_email
    from shop.workunits.invoices import InvoiceRequest, request_invoice

    order_id = w.new_order(paid=True)
    with atomic():
        return request_invoice(
            order_id, InvoiceRequest(kind="normal", title="X"), buyer=find_user_by_email("buyer@example.cn")
        ).id


def _card_batch_body(w: World) -> dict:
    return {
        "buyer_unit": _unit_id(w),
        "count": 1,
        "value_fen": 100,
        "expires_on": (clock.today().replace(day=1) + timedelta(days=90)).isoformat(),
    }


# name: (method, path(world) , body(world) , expected statuses in ROLES order)
Row = tuple[str, Callable[[World], str], Callable[[World], dict | None], list[int]]
A, C, OC, OP, AO, AD = range(6)

ROWS: dict[str, Row] = {
    # -- public catalogue
    "products": ("GET", lambda w: "/api/v1/products", lambda w: None, [200, 200, 200, 200, 200, 200]),
    "producers": ("GET", lambda w: "/api/v1/producers", lambda w: None, [200, 200, 200, 200, 200, 200]),
    "locations": ("GET", lambda w: "/api/v1/locations", lambda w: None, [200, 200, 200, 200, 200, 200]),
    "me": ("GET", lambda w: "/api/v1/auth/me", lambda w: None, [401, 200, 200, 200, 200, 200]),
    # -- orders (the customer's order picked up at hall DL-WX)
    "order list": ("GET", lambda w: "/api/v1/orders", lambda w: None, [401, 200, 200, 200, 200, 200]),
    "order detail": (
        "GET",
        lambda w: f"/api/v1/orders/{w.new_order()}",
        lambda w: None,
        [401, 200, 404, 404, 200, 200],
    ),
    "order detail own hall": (
        "GET",
        lambda w: f"/api/v1/orders/{w.new_order('DL-HM')}",
        lambda w: None,
        [401, 200, 404, 200, 200, 200],
    ),
    "create order": (
        "POST",
        lambda w: "/api/v1/orders",
        lambda w: {
            "lines": [{"sku": "SHOE-HEMP-40", "quantity": 1}],
            "delivery": {"type": "pickup", "location": "DL-WX"},
        },
        [401, 201, 201, 201, 201, 201],
    ),
    "cancel order": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order()}/cancel",
        lambda w: {},
        [401, 200, 404, 404, 403, 200],
    ),
    "manual payment": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order()}/payments/manual",
        lambda w: {"method": "cash"},
        [401, 403, 403, 403, 403, 200],
    ),
    "manual payment own hall": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order('DL-HM')}/payments/manual",
        lambda w: {"method": "cash"},
        [401, 403, 403, 200, 403, 200],
    ),
    "refund": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order(paid=True)}/refunds",
        lambda w: {"reason": "buyer changed mind"},
        [401, 403, 403, 403, 403, 201],
    ),
    # -- refund requests (the customer's, on paid orders picked up at hall DL-WX unless "own hall")
    "refund request create": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order(paid=True)}/refund-requests",
        lambda w: {"reason": "cancel"},
        [401, 201, 404, 404, 404, 404],
    ),
    "refund request list": (
        "GET",
        lambda w: "/api/v1/refund-requests",
        lambda w: None,
        [401, 200, 200, 200, 200, 200],
    ),
    "refund request detail": (
        "GET",
        lambda w: f"/api/v1/refund-requests/{w.new_refund_request()}",
        lambda w: None,
        [401, 200, 404, 404, 404, 200],
    ),
    "refund request approve": (
        "POST",
        lambda w: f"/api/v1/refund-requests/{w.new_refund_request()}/approve",
        lambda w: {},
        [401, 403, 403, 403, 403, 200],
    ),
    "refund request approve own hall": (
        "POST",
        lambda w: f"/api/v1/refund-requests/{w.new_refund_request('DL-HM')}/approve",
        lambda w: {},
        [401, 403, 403, 200, 403, 200],
    ),
    "refund request reject": (
        "POST",
        lambda w: f"/api/v1/refund-requests/{w.new_refund_request()}/reject",
        lambda w: {"reason": "already packed"},
        [401, 403, 403, 403, 403, 200],
    ),
    # -- halls and stock (operator of DL-HM acting on DL-WX)
    "stock": (
        "GET",
        lambda w: "/api/v1/locations/DL-WX/stock",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "stock own hall": (
        "GET",
        lambda w: "/api/v1/locations/DL-HM/stock",
        lambda w: None,
        [401, 403, 403, 200, 403, 200],
    ),
    "movements": (
        "GET",
        lambda w: "/api/v1/locations/DL-WX/movements",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "receipt": (
        "POST",
        lambda w: "/api/v1/locations/DL-WX/receipts",
        lambda w: {"lines": [{"sku": "SHOE-HEMP-40", "quantity": 1, "lot": "M-1"}]},
        [401, 403, 403, 403, 403, 201],
    ),
    "counter sale": (
        "POST",
        lambda w: "/api/v1/locations/DL-WX/sales",
        lambda w: _sale(),
        [401, 403, 403, 403, 403, 201],
    ),
    "counter sale own hall": (
        "POST",
        lambda w: "/api/v1/locations/DL-HM/sales",
        lambda w: _sale(),
        [401, 403, 403, 201, 403, 201],
    ),
    "adjustment": (
        "POST",
        lambda w: "/api/v1/locations/DL-WX/adjustments",
        lambda w: {"sku": "SHOE-HEMP-40", "quantity_delta": 1, "reason": "found"},
        [401, 403, 403, 403, 403, 201],
    ),
    "transfer from another hall": (
        "POST",
        lambda w: "/api/v1/transfers",
        lambda w: {"from": "DL-WX", "to": "DL-HM", "lines": [{"sku": "SHOE-HEMP-40", "quantity": 1}]},
        [401, 403, 403, 403, 403, 201],
    ),
    "stock reconciliation": (
        "GET",
        lambda w: "/api/v1/stock/reconciliation",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    # -- aid accounting (public progress; everything else for aid officers and admins)
    "aid programmes": ("GET", lambda w: "/api/v1/aid/programmes", lambda w: None, [200] * 6),
    "aid progress": ("GET", lambda w: f"{AID}/progress", lambda w: None, [200] * 6),
    "aid totals": ("GET", lambda w: f"{AID}/totals", lambda w: None, [401, 403, 403, 403, 200, 200]),
    "aid export": (
        "GET",
        lambda w: f"{AID}/export?format=csv",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "aid work units": ("GET", lambda w: f"{AID}/work-units", lambda w: None, [401, 403, 403, 403, 200, 200]),
    "aid programme change": (
        "PATCH",
        lambda w: AID,
        lambda w: {"target_fen": 5_000_000_000},
        [401, 403, 403, 403, 200, 200],
    ),
    "aid off-shop list": (
        "GET",
        lambda w: "/api/v1/aid/offshop-sales",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "aid off-shop record": (
        "POST",
        lambda w: "/api/v1/aid/offshop-sales",
        lambda w: _offshop_body(),
        [401, 403, 403, 403, 201, 201],
    ),
    "aid off-shop approve": (
        "POST",
        lambda w: f"/api/v1/aid/offshop-sales/{_pending_offshop_sale()}/approve",
        lambda w: {},
        [401, 403, 403, 403, 200, 200],
    ),
    "aid reconciliation runs": (
        "GET",
        lambda w: "/api/v1/aid/reconciliation-runs",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    # -- fulfilment (operator of DL-HM acting on DL-WX unless "own hall")
    "fulfilment queue": (
        "GET",
        lambda w: "/api/v1/fulfilment/locations/DL-WX/orders",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "fulfilment queue own hall": (
        "GET",
        lambda w: "/api/v1/fulfilment/locations/DL-HM/orders?section=waiting",
        lambda w: None,
        [401, 403, 403, 200, 403, 200],
    ),
    "fulfilment order": (
        "GET",
        lambda w: f"/api/v1/fulfilment/orders/{w.new_order(paid=True)}",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "fulfilment order own hall": (
        "GET",
        lambda w: f"/api/v1/fulfilment/orders/{w.new_order('DL-HM', paid=True)}",
        lambda w: None,
        [401, 403, 403, 200, 403, 200],
    ),
    "pick list own hall": (
        "GET",
        lambda w: "/api/v1/fulfilment/locations/DL-HM/pick-list",
        lambda w: None,
        [401, 403, 403, 200, 403, 200],
    ),
    "hand-over with no such code": (
        "POST",
        lambda w: "/api/v1/fulfilment/locations/DL-WX/handovers",
        lambda w: {"code": "000000"},
        [401, 403, 403, 403, 403, 404],
    ),
    # -- administration
    "audit log": ("GET", lambda w: "/api/v1/audit", lambda w: None, [401, 403, 403, 403, 403, 200]),
    "role change": (
        "POST",
        lambda w: f"/api/v1/admin/users/{create_user(f'u{next(_seq)}@x.cn').id}/role",
        lambda w: {"role": "customer"},
        [401, 403, 403, 403, 403, 200],
    ),
    # -- accounts and people (trust-auth)
    "password reset request": (
        "POST",
        lambda w: "/api/v1/auth/password-reset",
        lambda w: {"email": f"someone{next(_seq)}@example.cn"},
        [202] * 6,
    ),
    "password reset confirm with a bad link": (
        "POST",
        lambda w: "/api/v1/auth/password-reset/confirm",
        lambda w: {"token": "no-such-link", "password": "long-enough-1"},
        [422] * 6,
    ),
    "staff list": ("GET", lambda w: "/api/v1/admin/staff", lambda w: None, [401, 403, 403, 403, 403, 200]),
    "staff invite": (
        "POST",
        lambda w: "/api/v1/admin/staff",
        lambda w: {"email": f"invitee{next(_seq)}@x.cn", "name": "新同事", "role": "aid_officer"},
        [401, 403, 403, 403, 403, 201],
    ),
    "staff detail": (
        "GET",
        lambda w: f"/api/v1/admin/staff/{create_user(f'u{next(_seq)}@x.cn').id}",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "staff change": (
        "PATCH",
        lambda w: f"/api/v1/admin/staff/{create_user(f'u{next(_seq)}@x.cn').id}",
        lambda w: {"role": "aid_officer"},
        [401, 403, 403, 403, 403, 200],
    ),
    "staff deactivate": (
        "POST",
        lambda w: f"/api/v1/admin/staff/{create_user(f'u{next(_seq)}@x.cn').id}/deactivate",
        lambda w: {},
        [401, 403, 403, 403, 403, 200],
    ),
    "staff reactivate": (
        "POST",
        lambda w: f"/api/v1/admin/staff/{create_user(f'u{next(_seq)}@x.cn').id}/reactivate",
        lambda w: {},
        [401, 403, 403, 403, 403, 200],
    ),
    "staff password link": (
        "POST",
        lambda w: f"/api/v1/admin/staff/{create_user(f'u{next(_seq)}@x.cn').id}/password-link",
        lambda w: {},
        [401, 403, 403, 403, 403, 202],
    ),
    "certificate add": (
        "POST",
        lambda w: "/api/v1/admin/producers/1/certificates",
        lambda w: {
            "number": f"M-{next(_seq)}",
            "issuer": "x",
            "valid_from": "2026-01-01",
            "valid_until": "2026-12-31",
        },
        [401, 403, 403, 403, 201, 201],
    ),
    # -- back office (admins; aid officers read producers and handle certificates)
    "bo producer create": (
        "POST",
        lambda w: "/api/v1/admin/producers",
        lambda w: {"code": f"m-{next(_seq)}", "name": "x", "township": "西坪镇"},
        [401, 403, 403, 403, 403, 201],
    ),
    "bo producer list": (
        "GET",
        lambda w: "/api/v1/admin/producers",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "bo producer change": (
        "PATCH",
        lambda w: "/api/v1/admin/producers/tianguo-co",
        lambda w: {"fee_bp": 100},
        [401, 403, 403, 403, 403, 200],
    ),
    "bo certificates expiring": (
        "GET",
        lambda w: "/api/v1/admin/certificates/expiring",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "bo certificate scan upload": (
        "POST",
        lambda w: f"/api/v1/admin/certificates/{_certificate()}/document",
        lambda w: Upload(_png(), "scan.png"),
        [401, 403, 403, 403, 201, 201],
    ),
    "bo certificate scan read": (
        "GET",
        lambda w: f"/api/v1/admin/certificates/{_certificate(scan=True)}/document",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "bo category create": (
        "POST",
        lambda w: "/api/v1/admin/categories",
        lambda w: {"code": f"m-{next(_seq)}", "name": "x"},
        [401, 403, 403, 403, 403, 201],
    ),
    "bo product create": (
        "POST",
        lambda w: "/api/v1/admin/products",
        lambda w: {
            "name": "x",
            "category": "fruit",
            "producer": "huaniu-coop",
            "variants": [{"sku": f"M-{next(_seq)}", "name": "x", "price_fen": 100}],
        },
        [401, 403, 403, 403, 403, 201],
    ),
    "bo product list": (
        "GET",
        lambda w: "/api/v1/admin/products",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "bo product change": (
        "PATCH",
        lambda w: "/api/v1/admin/products/3",
        lambda w: {"description_en": "Hillside Fuji apples."},
        [401, 403, 403, 403, 403, 200],
    ),
    "bo variant add": (
        "POST",
        lambda w: "/api/v1/admin/products/3/variants",
        lambda w: {"sku": f"M-{next(_seq)}", "name": "x", "price_fen": 100},
        [401, 403, 403, 403, 403, 201],
    ),
    "bo variant price": (
        "PATCH",
        lambda w: "/api/v1/admin/variants/APL-FJ-5KG",
        lambda w: {"price_fen": 5800},
        [401, 403, 403, 403, 403, 200],
    ),
    "bo price history": (
        "GET",
        lambda w: "/api/v1/admin/products/3/prices",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "bo image upload": (
        "POST",
        lambda w: "/api/v1/admin/products/3/images",
        lambda w: Upload(_png()),
        [401, 403, 403, 403, 403, 201],
    ),
    "bo image list": (
        "GET",
        lambda w: "/api/v1/admin/products/3/images",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "bo image order": (
        "PUT",
        lambda w: "/api/v1/admin/products/3/images/order",
        lambda w: {"ids": [_image()]},
        [401, 403, 403, 403, 403, 200],
    ),
    "bo image delete": (
        "DELETE",
        lambda w: f"/api/v1/admin/images/{_image()}",
        lambda w: None,
        [401, 403, 403, 403, 403, 204],
    ),
    "bo location create": (
        "POST",
        lambda w: "/api/v1/admin/locations",
        lambda w: {"code": f"M-{next(_seq)}", "name": "x", "kind": "hall", "pickup": True},
        [401, 403, 403, 403, 403, 201],
    ),
    "bo location read": (
        "GET",
        lambda w: "/api/v1/admin/locations/DL-JQ",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "bo location change": (
        "PATCH",
        lambda w: "/api/v1/admin/locations/DL-JQ",
        lambda w: {"opening_hours": "09:00-19:00"},
        [401, 403, 403, 403, 403, 200],
    ),
    "bo operators": (
        "GET",
        lambda w: "/api/v1/admin/locations/DL-JQ/operators",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "bo operator assign": (
        "POST",
        lambda w: "/api/v1/admin/locations/DL-JQ/operators",
        lambda w: {"email": _spare_operator().email},
        [401, 403, 403, 403, 403, 201],
    ),
    "bo operator remove": (
        "DELETE",
        lambda w: f"/api/v1/admin/locations/DL-JQ/operators/{_spare_operator().id}",
        lambda w: None,
        [401, 403, 403, 403, 403, 204],
    ),
    # -- work units (a verified unit that is none of the roles; the customer's own orders)
    "work units list": (
        "GET",
        lambda w: "/api/v1/admin/work-units",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit detail": (
        "GET",
        lambda w: f"/api/v1/work-units/{_unit_id(w)}",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit verify": (
        "POST",
        lambda w: f"/api/v1/admin/work-units/{_pending_unit(w)}/verify",
        lambda w: {"note": "matrix"},
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit reject": (
        "POST",
        lambda w: f"/api/v1/admin/work-units/{_pending_unit(w)}/reject",
        lambda w: {"reason": "matrix"},
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit quota": (
        "PUT",
        lambda w: f"/api/v1/admin/work-units/{_unit_id(w)}/quota",
        lambda w: {"year": 2026, "amount_fen": 100},
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit progress": (
        "GET",
        lambda w: f"/api/v1/work-units/{_unit_id(w)}/progress",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit quota list": (
        "GET",
        lambda w: "/api/v1/work-units/quotas",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit quota export": (
        "GET",
        lambda w: "/api/v1/work-units/quotas.xlsx",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit orders": (
        "GET",
        lambda w: f"/api/v1/work-units/{_unit_id(w)}/orders",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit statement": (
        "GET",
        lambda w: f"/api/v1/work-units/{_unit_id(w)}/statements/2026-01",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "work unit transfer": (
        "POST",
        lambda w: f"/api/v1/admin/work-units/{_unit_id(w)}/transfers",
        lambda w: {"amount_fen": 100, "reference": f"M-{next(_seq)}"},
        [401, 403, 403, 403, 201, 201],
    ),
    "work units overdue": (
        "GET",
        lambda w: "/api/v1/admin/work-units/overdue",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "pay on account (not a unit's order)": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order()}/payments/account",
        lambda w: None,
        [401, 409, 404, 404, 403, 409],
    ),
    "pay with a card that does not exist": (
        "POST",
        lambda w: f"/api/v1/orders/{w.new_order()}/payments/card",
        lambda w: {"code": "2222-3333-4444-5555"},
        [401, 422, 404, 404, 422, 422],
    ),
    "invoice request": (
        "POST",
        lambda w: f"/api/v1/orders/{_paid_customer_order(w)}/invoice-request",
        lambda w: {"kind": "normal", "title": "个人"},
        [401, 201, 404, 404, 403, 403],
    ),
    "invoice queue": ("GET", lambda w: "/api/v1/invoices", lambda w: None, [401, 403, 403, 403, 200, 200]),
    "invoice detail": (
        "GET",
        lambda w: f"/api/v1/invoices/{_invoice(w)}",
        lambda w: None,
        [401, 200, 404, 404, 200, 200],
    ),
    "invoice issue": (
        "POST",
        lambda w: f"/api/v1/invoices/{_invoice(w)}/issue",
        lambda w: {"number": "12345678"},
        [401, 403, 403, 403, 200, 200],
    ),
    "pickup cards issue": (
        "POST",
        lambda w: "/api/v1/admin/pickup-cards",
        _card_batch_body,
        [401, 403, 403, 403, 403, 201],
    ),
    "pickup card batches": (
        "GET",
        lambda w: "/api/v1/admin/pickup-cards",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "counter snapshot": (
        "GET",
        lambda w: "/api/v1/locations/DL-WX/counter/snapshot",
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "counter snapshot own": (
        "GET",
        lambda w: "/api/v1/locations/DL-HM/counter/snapshot",
        lambda w: None,
        [401, 403, 403, 200, 403, 200],
    ),
    # -- partner platforms and their sales imports (aid officers; a platform pushes with its own key)
    "aid platforms": (
        "GET",
        lambda w: "/api/v1/aid/platforms",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "aid platform create": (
        "POST",
        lambda w: "/api/v1/aid/platforms",
        lambda w: {"code": f"M-PLAT-{next(_seq)}", "name": "某平台"},
        [401, 403, 403, 403, 201, 201],
    ),
    "aid platform api key": (
        "POST",
        lambda w: "/api/v1/aid/platforms/GG-JD/api-key",
        lambda w: {},
        [401, 403, 403, 403, 201, 201],
    ),
    "aid platform push without its key": (
        "POST",
        lambda w: "/api/v1/aid/platforms/GG-JD/sales",
        lambda w: {"rows": [_partner_row()]},
        [401] * 6,
    ),
    "aid import upload": (
        "POST",
        lambda w: "/api/v1/aid/imports",
        lambda w: Upload(_partner_csv(), "sales.csv", {"platform": "GG-TMALL"}),
        [401, 403, 403, 403, 202, 202],
    ),
    "aid imports": ("GET", lambda w: "/api/v1/aid/imports", lambda w: None, [401, 403, 403, 403, 200, 200]),
    "aid import": (
        "GET",
        lambda w: f"/api/v1/aid/imports/{_partner_import()}",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "aid import rejected rows": (
        "GET",
        lambda w: f"/api/v1/aid/imports/{_partner_import()}/rejected.csv",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "aid import void": (
        "POST",
        lambda w: f"/api/v1/aid/imports/{_partner_import()}/void",
        lambda w: {"reason": "wrong file"},
        [401, 403, 403, 403, 200, 200],
    ),
}


# -- producers: settlement statements of the hemp-shoe maker in months of 2025 (one month per use) ------
_MONTHS = itertools.count(1)
_STATEMENTS: dict[str, tuple[str, str]] = {}


def _statement(use: str, *, approved: bool = False) -> tuple[str, str]:
    """(period, producer code) of a statement made once per ``use``: a paid order that month, settled."""
    if use not in _STATEMENTS:
        from shop.core.clock import at_local
        from shop.producers import settlement
        from tests.producers.helpers import paid_order, producer_of, staff_user

        month = f"2025-{next(_MONTHS):02d}"
        paid_order([("SHOE-HEMP-40", 1)], at=at_local(date.fromisoformat(f"{month}-15")))
        settlement.run_settlement(month)
        code = producer_of("SHOE-HEMP-40").code
        if approved:
            with atomic():
                settlement.approve_statement(month, code, actor=staff_user())
        _STATEMENTS[use] = (month, code)
    return _STATEMENTS[use]


def _shoe_maker() -> str:
    from tests.producers.helpers import producer_of

    return producer_of("SHOE-HEMP-40").code


def _household(w: World) -> str:
    """A household of the shoe maker, linked once per module."""
    from shop.producers.households import add_household
    from tests.producers.helpers import producer_of

    if "household" not in _STATEMENTS:
        with atomic():
            add_household(producer_of("SHOE-HEMP-40"), ref="M-HH-1", village="x", members=2, actor=None)
        _STATEMENTS["household"] = ("", "M-HH-1")
    return _STATEMENTS["household"][1]


PRODUCER_ROWS: dict[str, Row] = {
    "settlement run": (
        "POST",
        lambda w: "/api/v1/admin/settlements",
        lambda w: {"period": clock.today().strftime("%Y-%m")},
        [401, 403, 403, 403, 403, 201],
    ),
    "settlement read": (
        "GET",
        lambda w: f"/api/v1/admin/settlements/{clock.today().strftime('%Y-%m')}",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "statement approve": (
        "POST",
        lambda w: "/api/v1/admin/settlements/{}/statements/{}/approve".format(*_statement("approve")),
        lambda w: None,
        [401, 403, 403, 403, 403, 200],
    ),
    "statement paid": (
        "POST",
        lambda w: "/api/v1/admin/settlements/{}/statements/{}/paid".format(
            *_statement("paid", approved=True)
        ),
        lambda w: {"reference": "BANK-1"},
        [401, 403, 403, 403, 403, 200],
    ),
    "producer statements": (
        "GET",
        lambda w: f"/api/v1/producers/{_shoe_maker()}/statements",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "producer statement": (
        "GET",
        lambda w: "/api/v1/producers/{1}/statements/{0}".format(*_statement("read")),
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "producer statement pdf": (
        "GET",
        lambda w: "/api/v1/producers/{1}/statements/{0}/pdf".format(*_statement("read")),
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "producer statement xlsx": (
        "GET",
        lambda w: "/api/v1/producers/{1}/statements/{0}/xlsx".format(*_statement("read")),
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "producer fees": (
        "GET",
        lambda w: f"/api/v1/admin/producers/{_shoe_maker()}/fees",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "producer fee schedule": (
        "POST",
        lambda w: f"/api/v1/admin/producers/{_shoe_maker()}/fees",
        lambda w: {"fee_bp": 300},
        [401, 403, 403, 403, 403, 201],
    ),
    "producer households add": (
        "POST",
        lambda w: f"/api/v1/producers/{_shoe_maker()}/households",
        lambda w: {"ref": f"M-H-{next(_seq)}", "village": "x", "members": 3},
        [401, 403, 403, 403, 403, 201],
    ),
    "producer households": (
        "GET",
        lambda w: f"/api/v1/producers/{_shoe_maker()}/households",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
    "producer household income": (
        "POST",
        lambda w: f"/api/v1/producers/{_shoe_maker()}/household-income",
        lambda w: {"household": _household(w), "kind": "wage", "amount_fen": 100, "on": "2026-01-05"},
        [401, 403, 403, 403, 403, 201],
    ),
    "programme households": (
        "GET",
        lambda w: f"{AID}/households",
        lambda w: None,
        [401, 403, 403, 403, 200, 200],
    ),
}
ROWS.update(PRODUCER_ROWS)
# -- harvest pre-orders: fresh campaigns (open, closed or draft) and the customer's pledges ------------


def _campaign(w: World, *, closed: bool = False, status: str = "open") -> str:
    from shop.accounts.services import find_user_by_email
    from shop.preorders.services import create_campaign

    code = f"M-CAMP-{next(_seq)}"
    now = clock.now()
    opens = now - timedelta(days=2) if closed else now - timedelta(hours=1)
    closes = now - timedelta(days=1) if closed else now + timedelta(days=30)
    with atomic():
        create_campaign(
            code=code, name="认购", sku="APL-HN-5KG", price_fen=6000, cap_units=10_000, per_buyer_cap=1000,
            opens_at=opens, closes_at=closes, ships_from=clock.today() + timedelta(days=60),
            actor=find_user_by_email("admin@example.cn"), status=status,
        )  # fmt: skip
    return code


def _campaign_body(w: World) -> dict:
    now = clock.now()
    return {
        "code": f"M-NEW-{next(_seq)}",
        "name": "认购",
        "sku": "APL-HN-5KG",
        "price_fen": 6000,
        "cap_units": 100,
        "per_buyer_cap": 2,
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=10)).isoformat(),
        "ships_from": (clock.today() + timedelta(days=60)).isoformat(),
    }


def _pledge(w: World) -> int:
    code = _campaign(w)
    r = w.call("customer", "POST", f"/api/v1/campaigns/{code}/pledges", _pledge_body(w))
    assert r.status_code == 201, r.json
    return r.json["id"]


def _pledge_body(w: World) -> dict:
    return {"quantity": 1, "delivery": {"type": "pickup", "location": "DL-WX"}}


ROWS.update(
    {
        "campaigns": ("GET", lambda w: "/api/v1/campaigns", lambda w: None, [200, 200, 200, 200, 200, 200]),
        "campaign detail": (
            "GET",
            lambda w: f"/api/v1/campaigns/{_campaign(w)}",
            lambda w: None,
            [200, 200, 200, 200, 200, 200],
        ),
        "campaign create": (
            "POST",
            lambda w: "/api/v1/admin/campaigns",
            _campaign_body,
            [401, 403, 403, 403, 403, 201],
        ),
        "campaigns (admin list)": (
            "GET",
            lambda w: "/api/v1/admin/campaigns",
            lambda w: None,
            [401, 403, 403, 403, 200, 200],
        ),
        "campaign publish": (
            "POST",
            lambda w: f"/api/v1/admin/campaigns/{_campaign(w, status='draft')}/status",
            lambda w: {"status": "open"},
            [401, 403, 403, 403, 403, 200],
        ),
        "campaign harvest": (
            "POST",
            lambda w: f"/api/v1/admin/campaigns/{_campaign(w, closed=True)}/harvest",
            lambda w: {"units": 0},
            [401, 403, 403, 403, 403, 200],
        ),
        "pledge create": (
            "POST",
            lambda w: f"/api/v1/campaigns/{_campaign(w)}/pledges",
            _pledge_body,
            [401, 201, 201, 201, 201, 201],
        ),
        "pledge list": ("GET", lambda w: "/api/v1/pledges", lambda w: None, [401, 200, 200, 200, 200, 200]),
        "pledge detail": (
            "GET",
            lambda w: f"/api/v1/pledges/{_pledge(w)}",
            lambda w: None,
            [401, 200, 404, 404, 200, 200],
        ),
        "pledge cancel": (
            "POST",
            lambda w: f"/api/v1/pledges/{_pledge(w)}/cancel",
            lambda w: None,
            [401, 200, 404, 404, 404, 404],
        ),
    }
)


def _partner_row() -> dict:
    return {
        "platform_order_id": f"M-ORDER-{next(_seq)}",
        "line": 1,
        "sold_on": SOLD_ON.isoformat(),
        "sku": "CHL-LINE-500G",
        "quantity": 1,
        "amount_fen": 2800,
    }


def _partner_csv() -> bytes:
    row = _partner_row()
    return (",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n").encode()


def _partner_import() -> int:
    """A finished import of one pushed line, made outside the table."""
    from shop.aid.imports import get_platform, push_sales

    with atomic():
        return push_sales(get_platform("GG-WXSC"), [_partner_row()]).id


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 30)).save(buf, "PNG")
    return buf.getvalue()


def _certificate(*, scan: bool = False) -> str:
    """A fresh certificate of a seeded producer (with its scan when asked), made outside the table."""
    from shop.backoffice.producers import attach_certificate_document
    from shop.catalog.services import add_certificate

    number = f"M-CERT-{next(_seq)}"
    with atomic():
        add_certificate(
            1, number=number, issuer="x", valid_from=date(2026, 1, 1), valid_until=date(2026, 12, 31)
        )
        if scan:
            attach_certificate_document(number, _png(), max_pixels=10**6)
    return number


def _image() -> int:
    from shop.media.services import add_product_image

    with atomic():
        return add_product_image(3, _png()).id


def _spare_operator():
    from shop.accounts.services import find_user_by_email

    return find_user_by_email("op-spare@example.cn") or create_user(
        "op-spare@example.cn", role="operator", locations=["DL-XL"]
    )


# -- charity sales (义卖): recorded by an officer who is none of the roles, so any officer may decide --


def _charity_body() -> dict:
    return {
        "item": "国画",
        "amount_fen": 50000,
        "donated_fen": 20000,
        "sold_on": SOLD_ON.isoformat(),
        "evidence": f"CS-{next(_seq)}",
    }


def _pending_charity_sale() -> int:
    from shop.accounts.services import find_user_by_email
    from shop.aid.charity import record_charity_sale

    recorder = find_user_by_email("recorder@example.cn") or create_user(
        "recorder@example.cn", role="aid_officer"
    )
    body = _charity_body()
    with atomic():
        return record_charity_sale(
            recorder,
            item=body["item"],
            amount_fen=body["amount_fen"],
            donated_fen=body["donated_fen"],
            sold_on=SOLD_ON,
            evidence=body["evidence"],
        ).id


def _approved_charity_sale() -> int:
    from shop.accounts.services import find_user_by_email
    from shop.aid.charity import approve_charity_sale

    sale_id = _pending_charity_sale()
    decider = find_user_by_email("decider@example.cn") or create_user(
        "decider@example.cn", role="aid_officer"
    )
    with atomic():
        approve_charity_sale(decider, sale_id)
    return sale_id


ROWS.update(
    {
        "aid charity list": (
            "GET",
            lambda w: "/api/v1/aid/charity-sales",
            lambda w: None,
            [401, 403, 403, 403, 200, 200],
        ),
        "aid charity record": (
            "POST",
            lambda w: "/api/v1/aid/charity-sales",
            lambda w: _charity_body(),
            [401, 403, 403, 403, 201, 201],
        ),
        "aid charity detail": (
            "GET",
            lambda w: f"/api/v1/aid/charity-sales/{_pending_charity_sale()}",
            lambda w: None,
            [401, 403, 403, 403, 200, 200],
        ),
        "aid charity approve": (
            "POST",
            lambda w: f"/api/v1/aid/charity-sales/{_pending_charity_sale()}/approve",
            lambda w: {},
            [401, 403, 403, 403, 200, 200],
        ),
        "aid charity reject": (
            "POST",
            lambda w: f"/api/v1/aid/charity-sales/{_pending_charity_sale()}/reject",
            lambda w: {"reason": "收据不清"},
            [401, 403, 403, 403, 200, 200],
        ),
        "aid charity void": (
            "POST",
            lambda w: f"/api/v1/aid/charity-sales/{_approved_charity_sale()}/void",
            lambda w: {"reason": "收据作废"},
            [401, 403, 403, 403, 200, 200],
        ),
    }
)


@pytest.mark.parametrize("name", list(ROWS))
def test_authorization_matrix(world, name):
    method, path_fn, body_fn, expected = ROWS[name]
    actual = []
    for role in ROLES:
        r = world.call(role, method, path_fn(world), body_fn(world))
        if r.status_code >= 400:
            assert r.content_type == "application/problem+json", (name, role, r.status_code)
        actual.append(r.status_code)
    assert dict(zip(ROLES, actual, strict=True)) == dict(zip(ROLES, expected, strict=True))


def test_logout_ends_the_callers_own_token_for_every_role(world):
    """POST /api/v1/auth/logout: 401 without a token; for every role 204 and only that token ends."""
    assert world.call("anonymous", "POST", "/api/v1/auth/logout").status_code == 401
    for role, (email, _, _) in USERS.items():
        fresh = world.client.post("/api/v1/auth/token", json={"email": email, "password": "password-123"})
        auth = {"Authorization": f"Bearer {fresh.json['access_token']}"}
        assert world.client.post("/api/v1/auth/logout", headers=auth).status_code == 204, role
        assert world.client.get("/api/v1/auth/me", headers=auth).status_code == 401, role
        assert world.call(role, "GET", "/api/v1/auth/me").status_code == 200, role


def test_customers_never_see_each_others_orders(world):
    mine = world.new_order()
    r = world.call("other_customer", "GET", "/api/v1/orders")
    assert mine not in [o["id"] for o in r.json["items"]]
    assert world.call("other_customer", "GET", f"/api/v1/orders/{mine}").status_code == 404
    r = world.call("other_customer", "GET", "/api/v1/orders?all=true")
    assert mine not in [o["id"] for o in r.json["items"]]


def _page_client(role: str):
    """A browser-like client signed in as ``role`` with a web session (anonymous: signed out)."""
    from flask import current_app

    from shop.accounts.services import find_user_by_email
    from tests.conftest import sign_in_session

    client = current_app.test_client()
    if role in USERS:
        sign_in_session(client, find_user_by_email(USERS[role][0]))
    return client


def test_storefront_pages_by_role(world):
    """The storefront's pages (issue 15): who may open them. The pickup QR code is its buyer's alone."""
    from shop.fulfilment import services as fulfilment

    order_id = world.new_order("DL-WX", paid=True)
    with atomic():
        fulfilment.pick_order(order_id)
    with atomic():
        fulfilment.prepare_handover(order_id)
    rows = {
        "/account/addresses": [302, 200, 200, 200, 200, 200],
        "/me": [200] * 6,
        "/categories": [200] * 6,
        "/favicon.ico": [200] * 6,
        "/qr.svg?path=/p/1": [200] * 6,
        "/qr.svg?path=//elsewhere.example/": [404] * 6,
        "/p/1": [301] * 6,
        "/go": [301] * 6,
        f"/orders/{order_id}/pickup-qr.svg": [302, 200, 404, 404, 404, 404],
    }
    for path, expected in rows.items():
        actual = [_page_client(role).get(path).status_code for role in ROLES]
        assert dict(zip(ROLES, actual, strict=True)) == dict(zip(ROLES, expected, strict=True)), path
    # Writes need a signed-in buyer (and a CSRF token, which a page gives): signed out, sign in first.
    anon = _page_client("anonymous")
    for path in ("/account/addresses/1/delete", f"/orders/{order_id}/return"):
        r = anon.post(path)
        assert r.status_code in (302, 400), (path, r.status_code)
