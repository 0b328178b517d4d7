"""The same aid numbers, exports, checks and rules on the embedded SQLite default as on PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import text

from shop.aid.exports import iter_csv, plan_export
from shop.aid.programmes import get_programme
from shop.aid.reconcile import reconcile
from shop.aid.reports import programme_totals, resolve_range
from shop.core import clock
from shop.core.db import atomic, db
from tests.aid.conftest import CODE, YEAR
from tests.conftest import create_user


def test_totals_on_both_databases(known_any):
    prog = get_programme(CODE)
    t = programme_totals(prog, resolve_range(prog, None, None))
    assert (t["total_fen"], t["qualifying_fen"], t["direct_purchase_fen"], t["helped_sales_fen"]) == (
        121300,
        113200,
        98000,
        15200,
    )
    months = {m["key"]: (m["total_fen"], m["qualifying_fen"]) for m in t["by_month"]}
    assert months[f"{YEAR}-02"] == (110900, 106400) and months[f"{YEAR}-03"] == (-3200, -6800)
    assert {i["key"]: i["total_fen"] for i in t["by_location"]} == {
        None: 104800,
        "DL-HM": 12900,
        "FAIR-TJ": 3600,
    }
    assert (t["producers_reached"], t["households_linked"]) == (3, 516)


def test_csv_export_on_both_databases(known_any):
    req = plan_export(get_programme(CODE), fmt="csv", start=None, end=None)
    with db.engine.connect() as conn:
        rows = list(csv.reader(io.StringIO("".join(iter_csv(req, conn)).removeprefix("\ufeff"))))
    assert [r[1] for r in rows[1:-1]] == ["order:1", "counter-sale:1", "counter-sale:1", "order:2",
                                          "counter-sale:2", "refund:1"]  # fmt: skip
    assert rows[-1][0] == "合计" and rows[-1][12] == "1213.00"


def test_reconciliation_on_both_databases(known_any):
    assert reconcile(trigger="test").status == "ok"
    with atomic():
        db.session.execute(text("UPDATE aid_rollup SET entries = entries + 1 WHERE id = 1"))
    run = reconcile(trigger="test")
    assert run.status == "drift" and run.difference_count == 1
    assert reconcile(repair=True, trigger="test").status == "repaired"
    assert reconcile(trigger="test").status == "ok"


def test_offshop_rules_on_both_databases(any_app):
    from shop.accounts.services import find_user_by_email
    from shop.aid.errors import DuplicateEvidence, SecondOfficerRequired
    from shop.aid.offshop import OffshopLineInput, approve_offshop_sale, record_offshop_sale
    from shop.demo import seed_demo

    with atomic():
        seed_demo()
    create_user("a@aid.gov.cn", role="aid_officer")
    create_user("b@aid.gov.cn", role="aid_officer")
    a, b = find_user_by_email("a@aid.gov.cn"), find_user_by_email("b@aid.gov.cn")
    day = min(clock.today(), date(YEAR, 5, 19))
    args = {
        "channel": "fair",
        "evidence_kind": "invoice",
        "evidence_number": "FP-1",
        "sold_on": day,
        "lines": [OffshopLineInput("CHL-LINE-500G", 2, 5600)],
    }
    with atomic():
        sale_id = record_offshop_sale(a, **args).id
    with pytest.raises(DuplicateEvidence), atomic():
        record_offshop_sale(b, **{**args, "evidence_number": "fp-1"})
    with pytest.raises(SecondOfficerRequired), atomic():
        approve_offshop_sale(a, sale_id)
    # The database itself refuses a decision by the recorder.
    with pytest.raises(Exception, match="four_eyes"), atomic():
        db.session.execute(
            text(f"UPDATE aid_offshop_sale SET decided_by_id = recorded_by_id WHERE id = {sale_id}")
        )
    with atomic():
        approve_offshop_sale(b, sale_id)
    prog = get_programme(CODE)
    assert programme_totals(prog, resolve_range(prog, None, None))["qualifying_fen"] == 5600
