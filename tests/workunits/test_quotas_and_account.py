"""Quotas (预留份额) against counted direct purchase; pay on account, transfers, statements, overdue."""

from __future__ import annotations

import io
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select, text

from shop.aid.models import AidEntry
from shop.aid.services import SaleLine, record_sale
from shop.catalog.services import variant_by_sku
from shop.core import clock
from shop.core.db import atomic, db
from shop.payments.refunds import send_refund
from shop.workunits import account
from shop.workunits.models import WorkUnit
from tests.conftest import create_user
from tests.workunits.helpers import SKU, order, register_unit


def _verified(api, admin, email="canteen@example.cn", title="东丽区第一中学") -> tuple[int, object]:
    uid = register_unit(api, email, title=title)
    admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    return uid, api.as_user(email)


def test_quota_progress_equals_the_sum_of_the_units_counted_orders(api, admin, officer):
    uid, unit = _verified(api, admin)
    year = clock.today().year
    r = officer.client.put(
        f"/api/v1/admin/work-units/{uid}/quota",
        json={"year": year, "amount_fen": 1_000_000},
        headers={"Authorization": f"Bearer {officer.token}"},
    )
    assert r.status_code == 200 and r.json["quota_fen"] == 1_000_000 and r.json["purchased_fen"] == 0, r.json
    ids = [order(unit, quantity=q) for q in (1, 2, 3)]
    for oid in ids:
        assert unit.post(f"/api/v1/orders/{oid}/payments/account").status_code == 200
    assert (
        admin.post(
            f"/api/v1/orders/{ids[2]}/refunds", json={"reason": "x", "lines": [{"sku": SKU, "quantity": 1}]}
        ).status_code
        == 201
    )
    db.session.rollback()
    counted = db.session.scalar(
        select(func.sum(AidEntry.amount_fen)).where(
            AidEntry.buyer_id == uid, AidEntry.direct_purchase.is_(True), AidEntry.qualifying.is_(True)
        )
    )
    progress = unit.get(f"/api/v1/work-units/{uid}/progress?year={year}").json
    assert progress["purchased_fen"] == counted == 9800 * 5
    assert progress["year"] == year and progress["progress"] == round(9800 * 5 / 1_000_000, 4)
    assert set(progress) >= {"year", "quota_fen", "purchased_fen", "progress"}
    create_user("stranger@example.cn")
    assert api.as_user("stranger@example.cn").get(f"/api/v1/work-units/{uid}/progress").status_code == 403


def test_a_quota_for_a_non_unit_is_refused_and_stores_nothing(api, officer):
    person = create_user("person@example.cn")
    r = officer.client.put(
        f"/api/v1/admin/work-units/{person.id}/quota",
        json={"year": 2026, "amount_fen": 100},
        headers={"Authorization": f"Bearer {officer.token}"},
    )
    assert r.status_code == 404 and r.json["errors"][0]["field"] == "user_id"
    db.session.rollback()
    assert db.session.scalar(text("SELECT count(*) FROM work_unit_quota")) == 0


def test_officers_list_units_against_quotas_sorted_flagging_the_ones_behind_each_quarter(api, admin, officer):
    """Last year: unit A bought its quarter share in Q1 only (behind from Q2 on); unit B kept pace."""
    a, _ = _verified(api, admin, "a@example.cn", "A单位")
    b, _ = _verified(api, admin, "b@example.cn", "=B单位")
    year = clock.today().year - 1
    for uid in (a, b):
        officer.client.put(
            f"/api/v1/admin/work-units/{uid}/quota",
            json={"year": year, "amount_fen": 400_000},
            headers={"Authorization": f"Bearer {officer.token}"},
        )
    shoe = variant_by_sku(SKU).id

    def bought(uid: int, day: date, fen: int, n: int) -> None:
        with atomic():
            record_sale(
                source=f"test:{uid}:{n}",
                occurred_at=clock.at_local(day),
                channel="work_unit",
                lines=[SaleLine(shoe, 1, fen)],
                buyer_id=uid,
            )

    bought(a, date(year, 2, 1), 100_000, 1)
    for q, month in enumerate((2, 5, 8, 11), start=1):
        bought(b, date(year, month, 1), 100_000, q)
    body = officer.get(f"/api/v1/work-units/quotas?year={year}&sort=progress&order=asc").json
    assert [i["user_id"] for i in body["items"]] == [a, b]
    first = body["items"][0]
    assert [q["behind"] for q in first["quarters"]] == [False, True, True, True] and first["behind"]
    assert body["items"][1]["behind"] is False and body["items"][1]["progress"] == 1.0
    desc = officer.get(f"/api/v1/work-units/quotas?year={year}&sort=purchased&order=desc").json
    assert [i["user_id"] for i in desc["items"]] == [b, a]
    xlsx = officer.get(f"/api/v1/work-units/quotas.xlsx?year={year}")
    assert xlsx.status_code == 200
    rows = list(load_workbook(io.BytesIO(xlsx.data)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:4] == ("单位名称", "统一社会信用代码", "单位类型", "认证状态")
    assert rows[1][0] == "A单位" and rows[1][8] == "落后"
    assert rows[2][0] == "'=B单位"  # never a live formula
    assert officer.get(f"/api/v1/work-units/quotas?year={year}&sort=bogus").status_code == 422


def test_pay_on_account_transfers_statement_and_overdue(api, admin, officer):
    uid, unit = _verified(api, admin)
    oid = order(unit, quantity=2)
    paid = unit.post(f"/api/v1/orders/{oid}/payments/account")
    assert paid.status_code == 200 and paid.json["status"] == "paid", paid.json
    assert unit.post(f"/api/v1/orders/{oid}/payments/account").status_code == 409
    month = clock.today().strftime("%Y-%m")
    st = unit.get(f"/api/v1/work-units/{uid}/statements/{month}").json
    assert st["charges_fen"] == 19600 and st["closing_fen"] == 19600 and st["overdue_fen"] == 0
    # Thirty days later the charge is overdue; a transfer settles it.
    db.session.execute(
        text("UPDATE work_unit_account_entry SET due_on = :d"), {"d": clock.today() - timedelta(days=1)}
    )
    db.session.commit()
    overdue = officer.get("/api/v1/admin/work-units/overdue").json["items"]
    assert [(i["user_id"], i["overdue_fen"]) for i in overdue] == [(uid, 19600)]
    r = officer.post(
        f"/api/v1/admin/work-units/{uid}/transfers", json={"amount_fen": 19600, "reference": "BK-001"}
    )
    assert r.status_code == 201, r.json
    again = officer.post(
        f"/api/v1/admin/work-units/{uid}/transfers", json={"amount_fen": 19600, "reference": "BK-001"}
    )
    assert again.status_code == 422
    assert officer.get("/api/v1/admin/work-units/overdue").json["items"] == []
    st = unit.get(f"/api/v1/work-units/{uid}/statements/{month}").json
    assert st["closing_fen"] == 0 and st["payments_fen"] == 19600 and len(st["entries"]) == 2
    assert unit.get(f"/api/v1/work-units/{uid}/statements/2026-13").status_code == 422
    # A refund of an order on account is a credit on the unit's account.
    db.session.rollback()
    unit_row = db.session.scalar(select(WorkUnit).where(WorkUnit.account_id == uid))
    before = account.account_status(unit_row).balance_fen
    refund = admin.post(f"/api/v1/orders/{oid}/refunds", json={"reason": "x"}).json["refund"]["id"]
    assert send_refund(refund) == "succeeded"
    db.session.rollback()
    assert account.account_status(unit_row).balance_fen == before - 19600


def test_an_unverified_unit_cannot_buy_on_account(api, shop):
    register_unit(api, "new@example.cn")
    unit = api.as_user("new@example.cn")
    oid = order(unit)
    r = unit.post(f"/api/v1/orders/{oid}/payments/account")
    assert r.status_code == 409 and r.json["type"].endswith("unit-not-verified")


def test_monthly_statements_are_sent_once(api, admin):
    _uid, unit = _verified(api, admin)
    oid = order(unit)
    unit.post(f"/api/v1/orders/{oid}/payments/account")
    with atomic():
        assert account.send_monthly_statements(clock.today()) == 1
    with atomic():
        account.send_monthly_statements(clock.today())
    db.session.rollback()
    n = db.session.scalar(text("SELECT count(*) FROM notification WHERE kind = 'work_unit_statement'"))
    assert n == 1
