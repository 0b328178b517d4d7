"""Households linked to producers (pseudonymous) and the income each received; the programme's report.

Bad input changes nothing: a reference already registered (by any producer), one that looks like an ID
or phone number, an unknown household, a negative, zero or absurd amount, a day in the future.
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.aid.models import AidProgramme
from shop.catalog.models import Producer
from shop.core import clock
from shop.core.db import db
from shop.producers.errors import HouseholdNotFound, HouseholdTaken, InvalidHousehold, InvalidIncome
from shop.producers.models import INCOME_KINDS, Household, HouseholdIncome

REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{1,39}")
# A resident ID number (15 or 18 characters) or a mobile number is not a pseudonym.
IDENTIFYING_RE = re.compile(r"\d{15}|\d{17}[\dXx]|1[3-9]\d{9}")
MAX_INCOME_FEN = 20_000_000  # 200,000 yuan in one record is not believable for one household


def add_household(
    producer: Producer,
    *,
    ref: str,
    village: str,
    members: int,
    township: str | None = None,
    actor: User | None,
) -> Household:
    """Link a household to the producer by its pseudonymous reference (unique across all producers)."""
    ref = (ref or "").strip()
    village = (village or "").strip()
    errors = []
    if not REF_RE.fullmatch(ref):
        errors.append({"field": "ref", "message": "2 to 40 letters, digits, - or _ (a code, not a name)"})
    elif IDENTIFYING_RE.search(ref):
        errors.append(
            {"field": "ref", "message": "looks like an ID or phone number; use a pseudonymous code"}
        )
    if not village or len(village) > 60:
        errors.append({"field": "village", "message": "the village, 1 to 60 characters"})
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= 30:
        errors.append({"field": "members", "message": "1 to 30 people"})
    if errors:
        raise InvalidHousehold("; ".join(e["message"] for e in errors), errors=errors)
    taken = _taken(ref)
    if taken is not None:
        raise taken
    household = Household(
        producer_id=producer.id,
        ref=ref,
        village=village,
        township=(township or producer.township)[:60],
        members=members,
        created_by_id=actor.id if actor else None,
    )
    try:
        with db.session.begin_nested():  # a concurrent registration of the same reference ends here
            db.session.add(household)
            db.session.flush()
    except IntegrityError:
        raise _taken(ref) or HouseholdTaken("household reference already registered") from None
    return household


def _taken(ref: str) -> HouseholdTaken | None:
    if db.session.scalar(select(Household.id).where(Household.ref == ref)) is None:
        return None
    return HouseholdTaken(
        f"household {ref!r} is already registered (possibly by another producer)",
        errors=[{"field": "ref", "message": "already registered"}],
    )


def record_income(
    producer: Producer, *, household_ref: str, kind: str, amount_fen: int, on: date, actor: User | None
) -> HouseholdIncome:
    """Record money the producer paid one of its own households on a day (not in the future)."""
    errors = []
    household = db.session.scalar(select(Household).where(Household.ref == (household_ref or "").strip()))
    if household is None or household.producer_id != producer.id:
        raise HouseholdNotFound(
            f"household {household_ref!r} is not linked to {producer.code}",
            errors=[{"field": "household", "message": "not one of this producer's households"}],
        )
    if kind not in INCOME_KINDS:
        errors.append({"field": "kind", "message": "produce, wage or dividend"})
    limit = MAX_INCOME_FEN
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or not 0 < amount_fen <= limit:
        errors.append({"field": "amount_fen", "message": f"1 to {limit} fen"})
    if on > clock.today():
        errors.append({"field": "on", "message": "not in the future"})
    elif on < date(2000, 1, 1):
        errors.append({"field": "on", "message": "not before 2000"})
    if errors:
        raise InvalidIncome("; ".join(e["message"] for e in errors), errors=errors)
    income = HouseholdIncome(
        household_id=household.id,
        producer_id=producer.id,
        kind=kind,
        amount_fen=amount_fen,
        on_day=on,
        recorded_by_id=actor.id if actor else None,
    )
    db.session.add(income)
    db.session.flush()
    return income


def households_of(producer_id: int):
    return select(Household).where(Household.producer_id == producer_id).order_by(Household.ref)


def programme_households(programme: AidProgramme) -> dict:
    """Households reached in the programme's period (with recorded income), people, income by kind and
    township, and per producer whether its claimed number of households is backed by recorded income."""
    in_period = (HouseholdIncome.on_day >= programme.starts_on, HouseholdIncome.on_day <= programme.ends_on)
    reached = (
        select(Household.id, Household.members, Household.township, Household.producer_id)
        .where(Household.id.in_(select(HouseholdIncome.household_id).where(*in_period)))
        .subquery()
    )
    households, people = db.session.execute(
        select(func.count(reached.c.id), func.coalesce(func.sum(reached.c.members), 0))
    ).one()
    by_kind = {k: 0 for k in INCOME_KINDS}
    for kind, total in db.session.execute(
        select(HouseholdIncome.kind, func.sum(HouseholdIncome.amount_fen))
        .where(*in_period)
        .group_by(HouseholdIncome.kind)
    ):
        by_kind[kind] = int(total)
    income = dict(
        db.session.execute(
            select(Household.township, func.sum(HouseholdIncome.amount_fen))
            .join(Household, Household.id == HouseholdIncome.household_id)
            .where(*in_period)
            .group_by(Household.township)
        ).all()
    )
    by_township = [
        {"township": t, "households": int(n), "people": int(p), "income_fen": int(income.get(t) or 0)}
        for t, n, p in db.session.execute(
            select(reached.c.township, func.count(reached.c.id), func.sum(reached.c.members))
            .group_by(reached.c.township)
            .order_by(reached.c.township)
        )
    ]
    reached_by_producer = dict(
        db.session.execute(
            select(reached.c.producer_id, func.count(reached.c.id)).group_by(reached.c.producer_id)
        ).all()
    )
    registered = dict(
        db.session.execute(
            select(Household.producer_id, func.count(Household.id)).group_by(Household.producer_id)
        ).all()
    )
    producers = []
    for p in db.session.scalars(select(Producer).order_by(Producer.code)):
        backed = int(reached_by_producer.get(p.id) or 0)
        if not (p.linked_households or backed or registered.get(p.id)):
            continue
        producers.append(
            {
                "producer": p.code,
                "name": p.name_zh,
                "claimed_households": p.linked_households,
                "registered_households": int(registered.get(p.id) or 0),
                "households_with_income": backed,
                "backed": backed >= p.linked_households,
            }
        )
    return {
        "programme": programme.code,
        "households": int(households),
        "people": int(people),
        "income_fen": sum(by_kind.values()),
        "currency": "CNY",
        "by_kind": by_kind,
        "by_township": by_township,
        "producers": producers,
    }


def public_household_totals(programme: AidProgramme | None) -> dict | None:
    """The totals the public progress page shows: households reached, people, income (no detail)."""
    if programme is None:
        return None
    report = programme_households(programme)
    return {k: report[k] for k in ("households", "people", "income_fen")}
