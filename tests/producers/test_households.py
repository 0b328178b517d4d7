"""Linked households (pseudonymous) and their income (issue #18, item 3): bad input changes nothing; the
programme's report counts households reached, people, income by kind and township, and which producers'
claims are backed; the public progress page shows the totals only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop.accounts.models import User
from shop.aid.services import current_programme
from shop.core import clock
from shop.core.db import atomic, db
from shop.producers.models import Household, HouseholdIncome
from tests.conftest import create_user
from tests.producers.helpers import producer_of

CHILI, SHOES = "CHL-LINE-500G", "SHOE-HEMP-40"


def _producer_account(api, email: str, sku: str):
    user = create_user(email, role="customer")
    with atomic():
        db.session.execute(
            update(User).where(User.id == user.id).values(role="producer", producer_id=producer_of(sku).id)
        )
    return api.as_user(email)


@pytest.fixture
def coop(api, shop):
    return _producer_account(api, "coop@gangu.cn", CHILI)


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Household.id))),
        db.session.scalar(select(func.count(HouseholdIncome.id))),
    )


def test_a_producer_links_households_and_records_their_income(coop, officer, shop):
    code = producer_of(CHILI).code
    r = coop.post(
        f"/api/v1/producers/{code}/households", json={"ref": "XP-017", "village": "西坪村", "members": 4}
    )
    assert r.status_code == 201, r.json
    assert r.json == r.json | {"ref": "XP-017", "village": "西坪村", "members": 4, "producer": code}
    today = clock.today().isoformat()
    for kind, amount in (("produce", 120_000), ("wage", 300_000), ("dividend", 50_000)):
        r = coop.post(
            f"/api/v1/producers/{code}/household-income",
            json={"household": "XP-017", "kind": kind, "amount_fen": amount, "on": today},
        )
        assert r.status_code == 201, r.json
    report = officer.get(f"/api/v1/aid/programmes/{current_programme().code}/households").json
    assert report["households"] == 1 and report["people"] == 4 and report["income_fen"] == 470_000
    assert report["by_kind"] == {"produce": 120_000, "wage": 300_000, "dividend": 50_000}
    assert report["by_township"][0]["income_fen"] == 470_000
    mine = next(p for p in report["producers"] if p["producer"] == code)
    assert (
        mine["households_with_income"] == 1
        and mine["claimed_households"] == producer_of(CHILI).linked_households
    )
    assert mine["backed"] is (producer_of(CHILI).linked_households <= 1)
    # The public progress page shows the totals only: no references, no villages.
    page = coop.client.get("/aid/progress").get_data(as_text=True)
    assert ("households-reached" in page and "¥4,700.00" in page) or "¥4700.00" in page
    assert "XP-017" not in page and "西坪村" not in page


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ref": "张三", "village": "西坪村", "members": 4}, "ref"),
        ({"ref": "620523199001011234", "village": "西坪村", "members": 4}, "ref"),
        ({"ref": "P-13912345678", "village": "西坪村", "members": 4}, "ref"),
        ({"ref": "XP-1", "village": "西坪村", "members": 0}, "members"),
        ({"ref": "XP-1", "village": "", "members": 3}, "village"),
    ],
)
def test_identifying_or_impossible_households_are_refused(coop, body, field):
    r = coop.post(f"/api/v1/producers/{producer_of(CHILI).code}/households", json=body)
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert field in {e["field"] for e in r.json["errors"]} or any(
        field in e["field"] for e in r.json["errors"]
    )
    assert _counts() == (0, 0)


def test_a_household_reference_is_never_reused_across_producers(api, coop, shop):
    other = _producer_account(api, "shoes@gangu.cn", SHOES)
    body = {"ref": "GP-001", "village": "古坡村", "members": 3}
    assert coop.post(f"/api/v1/producers/{producer_of(CHILI).code}/households", json=body).status_code == 201
    r = other.post(f"/api/v1/producers/{producer_of(SHOES).code}/households", json=body)
    assert r.status_code == 409 and r.json["errors"][0]["field"] == "ref"
    assert _counts() == (1, 0)
    # Nor may it record income for a household it does not hold.
    r = other.post(
        f"/api/v1/producers/{producer_of(SHOES).code}/household-income",
        json={"household": "GP-001", "kind": "wage", "amount_fen": 100, "on": clock.today().isoformat()},
    )
    assert r.status_code == 404 and _counts() == (1, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_fen": -500}, "amount_fen"),
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": 2_000_000_000}, "amount_fen"),
        ({"on": (clock.today() + timedelta(days=2)).isoformat()}, "on"),
        ({"kind": "gift"}, "kind"),
    ],
)
def test_bad_income_is_refused_and_nothing_is_stored(coop, change, field):
    code = producer_of(CHILI).code
    coop.post(f"/api/v1/producers/{code}/households", json={"ref": "LX-9", "village": "礼辛村", "members": 2})
    body = {
        "household": "LX-9",
        "kind": "wage",
        "amount_fen": 10_000,
        "on": clock.today().isoformat(),
    } | change
    r = coop.post(f"/api/v1/producers/{code}/household-income", json=body)
    assert r.status_code == 422, r.json
    assert field in {e["field"] for e in r.json["errors"]}
    assert _counts() == (1, 0)


def test_another_producers_households_are_forbidden(coop, shop):
    code = producer_of(SHOES).code
    r = coop.post(f"/api/v1/producers/{code}/households", json={"ref": "XX-1", "village": "村", "members": 2})
    assert r.status_code == 403
    assert coop.get(f"/api/v1/producers/{code}/households").status_code == 403
    assert coop.get("/api/v1/producers/NO-SUCH/households").status_code == 403
    assert _counts() == (0, 0)


def test_a_retry_with_the_same_key_records_income_once(coop):
    code = producer_of(CHILI).code
    coop.post(f"/api/v1/producers/{code}/households", json={"ref": "HM-2", "village": "华明村", "members": 5})
    body = {"household": "HM-2", "kind": "produce", "amount_fen": 8_800, "on": clock.today().isoformat()}
    first = coop.post(
        f"/api/v1/producers/{code}/household-income", json=body, headers={"Idempotency-Key": "k1"}
    )
    again = coop.post(
        f"/api/v1/producers/{code}/household-income", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert _counts() == (1, 1)
