"""Only a unit verified when its order is paid counts as direct purchase (issue 13 item 8, issue 16)."""

from __future__ import annotations

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile
from shop.core.db import db
from shop.workunits.models import WorkUnit, WorkUnitVerificationEvent
from tests.workunits.helpers import credit_code, order, register_unit


def _entries(order_id: int) -> list[AidEntry]:
    db.session.rollback()
    return list(db.session.scalars(select(AidEntry).where(AidEntry.source == f"order:{order_id}")))


def _pay(admin, order_id: int) -> None:
    r = admin.post(f"/api/v1/orders/{order_id}/payments/manual", json={"method": "transfer"})
    assert r.status_code == 200, r.json


def test_registering_as_a_work_unit_makes_a_pending_unit(api, shop):
    uid = register_unit(api, "canteen@example.cn")
    me = api.as_user("canteen@example.cn").get("/api/v1/auth/me").json
    assert me["buyer_kind"] == "work_unit" and me["verification"] == "pending" and me["id"] == uid
    consumer = api.post(
        "/api/v1/auth/register", json={"email": "p@example.cn", "password": "password-123", "name": "P"}
    )
    assert consumer.json["buyer_kind"] == "consumer" and consumer.json["verification"] is None
    unit = db.session.scalar(select(WorkUnit).where(WorkUnit.account_id == uid))
    assert unit.unit_type == "budget_unit" and unit.legal_name == "天津市东丽区某某中学"


def test_an_unverified_units_order_counts_as_helped_sales_and_a_verified_ones_as_direct_purchase(api, admin):
    uid = register_unit(api, "canteen@example.cn")
    unit = api.as_user("canteen@example.cn")
    first = order(unit)
    _pay(admin, first)
    assert {(e.direct_purchase, e.channel, e.buyer_id) for e in _entries(first)} == {(False, "online", uid)}

    r = admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "营业执照已核验"})
    assert r.status_code == 200 and r.json["verification"] == "verified", r.json
    second = order(unit)
    _pay(admin, second)
    assert {(e.direct_purchase, e.channel, e.buyer_id) for e in _entries(second)} == {
        (True, "work_unit", uid)
    }
    # What was counted before the verification stays as it was counted.
    assert {e.direct_purchase for e in _entries(first)} == {False}

    r = admin.post(f"/api/v1/admin/work-units/{uid}/reject", json={"reason": "资质过期"})
    assert r.status_code == 200 and r.json["verification"] == "rejected"
    third = order(unit)
    _pay(admin, third)
    assert {e.direct_purchase for e in _entries(third)} == {False}
    assert {e.direct_purchase for e in _entries(second)} == {True}
    assert unit.get("/api/v1/auth/me").json["verification"] == "rejected"
    history = admin.get(f"/api/v1/work-units/{uid}").json["history"]
    assert [(h["from_state"], h["to_state"]) for h in history] == [
        (None, "pending"),
        ("pending", "verified"),
        ("verified", "rejected"),
    ]
    assert reconcile(trigger="test").status == "ok"


def test_an_order_placed_unverified_but_paid_after_verification_is_direct_purchase(api, admin):
    uid = register_unit(api, "union@example.cn", unit_type="trade_union")
    unit = api.as_user("union@example.cn")
    placed = order(unit)
    admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    _pay(admin, placed)
    assert {e.direct_purchase for e in _entries(placed)} == {True}


def test_a_malformed_credit_code_is_refused_naming_the_field_and_stores_nothing(api, shop):
    good = credit_code()
    for bad, why in (
        (good[:-1] + ("0" if good[-1] != "0" else "1"), "check character"),
        (good[:17], "18 characters"),
        ("91120110MA0000I01X", "not used"),
    ):
        r = api.post(
            "/api/v1/auth/register",
            json={
                "email": "bad@example.cn",
                "password": "password-123",
                "name": "X",
                "buyer_kind": "work_unit",
                "invoice_title": "某公司",
                "tax_id": bad,
                "unit_type": "private_company",
            },
        )
        assert r.status_code == 422, r.json
        assert r.json["errors"][0]["field"] == "tax_id" and why in r.json["errors"][0]["message"], r.json
    db.session.rollback()
    assert (
        db.session.scalar(select(func.count()).select_from(User).where(User.email == "bad@example.cn")) == 0
    )
    assert db.session.scalar(select(func.count()).select_from(WorkUnit)) == 0


def test_verification_needs_a_note_and_a_second_identical_decision_is_refused(api, admin, officer):
    uid = register_unit(api, "soe@example.cn", unit_type="state_owned")
    assert admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": ""}).status_code == 422
    assert officer.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"}).status_code == 200
    again = officer.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    assert again.status_code == 409
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WorkUnitVerificationEvent)) == 2
    assert admin.post("/api/v1/admin/work-units/999999/verify", json={"note": "x"}).status_code == 404


def test_a_units_buyers_orders_are_the_units_and_its_manager_sees_them(api, admin):
    uid = register_unit(api, "mgr@example.cn")
    manager = api.as_user("mgr@example.cn")
    r = manager.post(
        f"/api/v1/work-units/{uid}/buyers",
        json={"email": "cook@example.cn", "name": "食堂采购", "password": "password-123"},
    )
    assert r.status_code == 201, r.json
    cook = api.as_user("cook@example.cn")
    assert cook.get("/api/v1/auth/me").json["verification"] == "pending"
    admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    placed = order(cook)
    _pay(admin, placed)
    assert {(e.direct_purchase, e.buyer_id) for e in _entries(placed)} == {(True, uid)}
    listed = manager.get(f"/api/v1/work-units/{uid}/orders").json
    assert [o["id"] for o in listed["items"]] == [placed] and listed["total"] == 1
    assert manager.get(f"/api/v1/orders/{placed}").status_code == 200  # the manager reads each order
    assert manager.post(f"/api/v1/orders/{placed}/cancel", json={}).status_code in (403, 409)
    # A buyer is not the manager: it cannot see the unit's other orders nor add logins.
    assert cook.get(f"/api/v1/work-units/{uid}/orders").status_code == 403
    assert (
        cook.post(
            f"/api/v1/work-units/{uid}/buyers",
            json={"email": "x@example.cn", "name": "x", "password": "password-123"},
        ).status_code
        == 403
    )
