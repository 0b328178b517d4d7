from __future__ import annotations

from datetime import date

import pytest

from shop.core import clock
from tests.aid.helpers import refund, sell
from tests.conftest import create_user

YEAR = clock.today().year
CODE = f"DL-GG-{YEAR}"


@pytest.fixture
def officers(seeded):
    """Two aid officers (four eyes) and their API clients."""
    create_user("officer1@aid.gov.cn", role="aid_officer")
    create_user("officer2@aid.gov.cn", role="aid_officer")
    return "officer1@aid.gov.cn", "officer2@aid.gov.cn"


@pytest.fixture
def officer_api(api, officers):
    return api.as_user(officers[0])


@pytest.fixture
def known_set(seeded):
    """The known ledger on PostgreSQL (see ``load_known_set``); returns the work unit's user id."""
    return load_known_set()


@pytest.fixture
def known_any(any_app):
    """The known ledger on PostgreSQL and on the embedded SQLite default."""
    from shop.core.db import atomic
    from shop.demo import seed_demo

    with atomic():
        seed_demo()
    return load_known_set()


def load_known_set() -> int:
    """A small, fully known ledger: every channel kind, certified and not, direct and helped, a refund.

    | source          | day   | channel   | place   | line                         | fen    | certified |
    | order:1         | 01-15 | online    | -       | Huaniu apples x2             | 13600  | yes       |
    | counter-sale:1  | 02-03 | hall      | DL-HM   | line chili x3                | 8400   | yes       |
    |                 |       |           |         | highland vegetables x1       | 4500   | no        |
    | order:2         | 02-20 | work_unit | -       | hemp shoes x10 (direct)      | 98000  | yes       |
    | counter-sale:2  | 03-05 | fair      | FAIR-TJ | pepper powder x2             | 3600   | no (expired) |
    | refund:1        | 03-10 | (online)  | -       | Huaniu apples x1 of order:1  | -6800  | yes       |
    """
    unit = create_user("canteen@dongli.gov.cn")
    from shop.accounts.models import User
    from shop.core.db import atomic, db

    with atomic():
        u = db.session.get(User, unit.id)
        u.buyer_kind, u.invoice_title, u.tax_id, u.name = (
            "work_unit",
            "东丽区机关食堂",
            "12120110MB1234567X",
            "机关食堂",
        )
        # A registered, verified unit (its orders counted as direct purchase below).
        from shop.workunits.models import WorkUnit, WorkUnitMember

        w = WorkUnit(
            account_id=u.id, legal_name="东丽区机关食堂", credit_code=u.tax_id, unit_type="budget_unit",
            verification="verified",
        )  # fmt: skip
        db.session.add(w)
        db.session.flush()
        db.session.add(WorkUnitMember(user_id=u.id, unit_id=w.id, role="manager"))
    sell("order:1", date(YEAR, 1, 15), "online", ("APL-HN-5KG", 2, 13600))
    sell(
        "counter-sale:1",
        date(YEAR, 2, 3),
        "hall",
        ("CHL-LINE-500G", 3, 8400),
        ("VEG-HL-10KG", 1, 4500),
        at="DL-HM",
    )
    sell(
        "order:2", date(YEAR, 2, 20), "work_unit", ("SHOE-HEMP-40", 10, 98000), direct=True, buyer_id=unit.id
    )
    sell("counter-sale:2", date(YEAR, 3, 5), "fair", ("PEP-PWD-100G", 2, 3600), at="FAIR-TJ")
    refund("refund:1", "order:1", date(YEAR, 3, 10), ("APL-HN-5KG", 1, 6800))
    return unit.id


@pytest.fixture(autouse=True)
def _synthetic_sources_only(request):
    """Most aid tests count synthetic sources ("order:1" with no such order) to test the ledger alone;
    the checkers of real orders and counter sales would rightly flag those, so they are set aside here.
    tests/aid/test_source_checkers.py runs them against real orders and sales."""
    if request.module.__name__.endswith("test_source_checkers"):
        yield
        return
    from shop.aid import reconcile

    saved = {
        name: reconcile._CHECKERS.pop(name)
        for name in ("orders", "counter_sales", "pickup_cards")
        if name in reconcile._CHECKERS
    }
    yield
    reconcile._CHECKERS.update(saved)
