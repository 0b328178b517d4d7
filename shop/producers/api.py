"""Settlement, fees and households under /api/v1."""

from __future__ import annotations

import io

from flask import send_file
from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.aid.programmes import get_programme
from shop.core.api import page_of
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.producers import documents, fees, households, settlement
from shop.producers import schemas as s
from shop.producers.access import READERS, WRITERS, producer_by_code, producer_for

blp = Blueprint(
    "producers_api", __name__, url_prefix="/api/v1", description="Producers: settlement, households"
)
SECURITY = [{"bearerAuth": []}]
OFFICERS = ("admin", "aid_officer")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _settlement(period: str) -> dict:
    return {
        "period": period,
        "statements": [s.statement_dict(st) for st in settlement.statements_of_period(period)],
    }


@blp.route("/admin/settlements", methods=["POST"])
@idempotent
@blp.arguments(s.SettlementRunIn)
@blp.response(201, s.SettlementOut)
@blp.alt_response(422, description="Not a month, or a month not begun yet")
@blp.doc(security=SECURITY)
@require_role("admin")
def run_settlement(data: dict):
    """Settle a month now: every paid sale line not settled before, refunds as negative lines, fees."""
    user = api_user()
    settlement.run_settlement(data["period"], trigger=f"admin:{user.id}")
    return _settlement(data["period"])


@blp.route("/admin/settlements/<period>", methods=["GET"])
@blp.response(200, s.SettlementOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def get_settlement(period: str):
    """The statements of a month as they stand (no run)."""
    settlement.parse_period(period)
    return _settlement(period)


@blp.route("/admin/settlements/<period>/statements/<producer>/approve", methods=["POST"])
@idempotent
@blp.response(200, s.SettlementStatementOut)
@blp.alt_response(409, description="Already approved or paid")
@blp.doc(security=SECURITY)
@require_role("admin")
def approve(period: str, producer: str):
    """Approve a draft statement; it never changes afterwards."""
    with atomic():
        return s.statement_dict(settlement.approve_statement(period, producer, actor=api_user()))


@blp.route("/admin/settlements/<period>/statements/<producer>/paid", methods=["POST"])
@idempotent
@blp.arguments(s.PayoutIn)
@blp.response(200, s.SettlementStatementOut)
@blp.alt_response(409, description="Payout already recorded, or the statement is not approved")
@blp.doc(security=SECURITY)
@require_role("admin")
def record_paid(data: dict, period: str, producer: str):
    """Record the payout made outside the shop, with the bank's reference (once)."""
    with atomic():
        st = settlement.record_payout(period, producer, reference=data["reference"], actor=api_user())
        return s.statement_dict(st)


@blp.route("/producers/<code>/statements", methods=["GET"])
@blp.arguments(s.StatementListArgs, location="query")
@blp.response(200, s.SettlementStatementPage)
@blp.doc(security=SECURITY)
@require_role(*READERS)
def list_statements(args: dict, code: str):
    """The producer's statements, newest month first (that producer's account, officers, admins)."""
    producer = producer_for(api_user(), code)
    rows, total = page_of(
        settlement.statements_of_producer(producer.id), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [s.statement_dict(st, with_lines=False) for st in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/producers/<code>/statements/<period>", methods=["GET"])
@blp.response(200, s.SettlementStatementOut)
@blp.doc(security=SECURITY)
@require_role(*READERS)
def get_statement(code: str, period: str):
    """One statement with its lines."""
    producer = producer_for(api_user(), code)
    return s.statement_dict(settlement.get_statement(period, producer.code))


@blp.route("/producers/<code>/statements/<period>/pdf", methods=["GET"])
@blp.response(200, description="the statement as PDF, in Chinese")
@blp.doc(security=SECURITY)
@require_role(*READERS)
def statement_pdf(code: str, period: str):
    producer = producer_for(api_user(), code)
    st = settlement.get_statement(period, producer.code)
    return send_file(
        io.BytesIO(documents.statement_pdf(st)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"statement-{producer.code}-{st.period}.pdf",
    )


@blp.route("/producers/<code>/statements/<period>/xlsx", methods=["GET"])
@blp.response(200, description="the statement as XLSX with Chinese headers")
@blp.doc(security=SECURITY)
@require_role(*READERS)
def statement_xlsx(code: str, period: str):
    producer = producer_for(api_user(), code)
    st = settlement.get_statement(period, producer.code)
    return send_file(
        io.BytesIO(documents.statement_xlsx(st)),
        mimetype=XLSX,
        as_attachment=True,
        download_name=f"statement-{producer.code}-{st.period}.xlsx",
    )


@blp.route("/admin/producers/<code>/fees", methods=["GET"])
@blp.response(200, s.FeeListOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def fee_history(code: str):
    """The producer's agreed fees, oldest first, and the one in force now."""
    producer = producer_by_code(code)
    return {
        "producer": producer.code,
        "current_fee_bp": fees.current_fee_bp(producer.id),
        "items": [s.fee_dict(f) for f in fees.fee_history(producer.id)],
    }


@blp.route("/admin/producers/<code>/fees", methods=["POST"])
@idempotent
@blp.arguments(s.FeeIn)
@blp.response(201, s.FeeOut)
@blp.doc(security=SECURITY)
@require_role("admin")
def schedule_fee(data: dict, code: str):
    """Agree a fee from a day on (today or later; never the past)."""
    with atomic():
        producer = producer_by_code(code)
        fee = fees.set_fee(
            producer, data["fee_bp"], actor=api_user(), effective_from=data.get("effective_from")
        )
        return s.fee_dict(fee)


@blp.route("/producers/<code>/households", methods=["POST"])
@idempotent
@blp.arguments(s.HouseholdIn)
@blp.response(201, s.HouseholdOut)
@blp.alt_response(409, description="That reference is already registered (by any producer)")
@blp.doc(security=SECURITY)
@require_role(*WRITERS)
def add_household(data: dict, code: str):
    """Link a household by a pseudonymous reference (no names or ID numbers)."""
    user = api_user()
    with atomic():
        producer = producer_for(user, code, write=True)
        household = households.add_household(
            producer, ref=data["ref"], village=data["village"], members=data["members"],
            township=data.get("township"), actor=user,
        )  # fmt: skip
        return s.household_dict(household)


@blp.route("/producers/<code>/households", methods=["GET"])
@blp.arguments(s.StatementListArgs, location="query")
@blp.response(200, s.HouseholdPage)
@blp.doc(security=SECURITY)
@require_role(*READERS)
def list_households(args: dict, code: str):
    producer = producer_for(api_user(), code)
    rows, total = page_of(households.households_of(producer.id), page=args["page"], per_page=args["per_page"])
    return {
        "items": [s.household_dict(h) for h in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/producers/<code>/household-income", methods=["POST"])
@idempotent
@blp.arguments(s.IncomeIn)
@blp.response(201, s.IncomeOut)
@blp.alt_response(404, description="Not one of this producer's households")
@blp.doc(security=SECURITY)
@require_role(*WRITERS)
def record_income(data: dict, code: str):
    """Record what a household received: produce bought from it, wages or a dividend."""
    user = api_user()
    with atomic():
        producer = producer_for(user, code, write=True)
        income = households.record_income(
            producer, household_ref=data["household"], kind=data["kind"], amount_fen=data["amount_fen"],
            on=data["on"], actor=user,
        )  # fmt: skip
        return s.income_dict(income)


@blp.route("/aid/programmes/<code>/households", methods=["GET"])
@blp.response(200, s.ProgrammeHouseholdsOut)
@blp.doc(security=SECURITY)
@require_role(*OFFICERS)
def programme_households(code: str):
    """Households reached in the programme's period, people, income by kind and township, and which
    producers' claimed households are backed by recorded income."""
    return households.programme_households(get_programme(code))
