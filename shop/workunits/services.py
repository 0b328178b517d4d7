"""Work-unit accounts: register a unit, verify or reject it (history kept), add buyers, read a unit.

A unit registers with its legal name (also its invoice title), unit type, unified social credit code
(checked, GB 32100-2015) and contact. It is ``pending`` until an admin or aid officer verifies it with a
note, or rejects it with a reason; only orders paid while it is verified count as direct purchase
(``shop.workunits.standing``). Its manager (the registering account) adds buyers, each with a login of
their own, and sees every order of the unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from shop.accounts.models import User
from shop.accounts.services import register_customer
from shop.audit.services import record
from shop.core.db import db, utcnow
from shop.orders.models import Order
from shop.workunits import codes
from shop.workunits.errors import (
    InvalidCreditCode,
    InvalidUnitData,
    NotAWorkUnit,
    NotUnitManager,
    VerificationUnchanged,
)
from shop.workunits.models import (
    UNIT_TYPES,
    WorkUnit,
    WorkUnitMember,
    WorkUnitVerificationEvent,
)
from shop.workunits.standing import membership, unit_by_account

OFFICERS = ("aid_officer", "admin")
PHONE_RE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")


def check_credit_code(code: str, *, field: str = "tax_id") -> str:
    """Return the normalised credit code, or raise a 422 naming ``field`` and what is wrong."""
    normalised = codes.normalise(code)
    problem = codes.credit_code_problem(normalised)
    if problem:
        raise InvalidCreditCode(
            f"{field}: {code!r} is not a unified social credit code: {problem}",
            errors=[{"field": field, "message": problem}],
        )
    return normalised


@dataclass(frozen=True)
class UnitRegistration:
    email: str
    password: str
    name: str
    invoice_title: str
    tax_id: str
    unit_type: str
    legal_name: str = ""
    contact_name: str = ""
    contact_phone: str = ""


def register_unit(reg: UnitRegistration) -> User:
    """Create a unit's account (its manager's login) and the unit, pending verification."""
    errors = []
    if reg.unit_type not in UNIT_TYPES:
        errors.append({"field": "unit_type", "message": f"one of {', '.join(UNIT_TYPES)}"})
    if not reg.invoice_title.strip():
        errors.append({"field": "invoice_title", "message": "required for work units"})
    if reg.contact_phone and not PHONE_RE.fullmatch(reg.contact_phone.strip()):
        errors.append({"field": "contact_phone", "message": "a mainland mobile or landline number"})
    if errors:
        raise InvalidUnitData("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    code = check_credit_code(reg.tax_id)
    user = register_customer(
        email=reg.email,
        password=reg.password,
        name=reg.name,
        buyer_kind="work_unit",
        invoice_title=reg.invoice_title.strip(),
        tax_id=code,
    )
    unit = WorkUnit(
        account_id=user.id,
        unit_type=reg.unit_type,
        legal_name=(reg.legal_name or reg.invoice_title).strip()[:200],
        credit_code=code,
        contact_name=(reg.contact_name or reg.name).strip()[:60],
        contact_phone=reg.contact_phone.strip(),
        verification="pending",
    )
    db.session.add(unit)
    db.session.flush()
    db.session.add(WorkUnitMember(user_id=user.id, unit_id=unit.id, role="manager"))
    db.session.add(WorkUnitVerificationEvent(unit_id=unit.id, from_state=None, to_state="pending"))
    db.session.flush()
    return user


def get_unit(account_id: int) -> WorkUnit:
    """The unit whose API id (its registering account) is ``account_id``; 404 for anyone else."""
    unit = unit_by_account(account_id)
    if unit is None:
        raise NotAWorkUnit(
            f"user {account_id} is not a registered work unit",
            errors=[{"field": "user_id", "message": "not a work unit"}],
        )
    return unit


def lock_unit(account_id: int) -> WorkUnit:
    """The unit, its row locked for this transaction (verification decisions must not interleave)."""
    get_unit(account_id)
    return db.session.scalars(
        select(WorkUnit)
        .where(WorkUnit.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def ensure_can_manage(unit: WorkUnit, user: User) -> None:
    """The unit's manager, aid officers and admins read and run the unit; its buyers and others do not."""
    if user.role in OFFICERS:
        return
    member = membership(user.id)
    if member is None or member.unit_id != unit.id or member.role != "manager":
        raise NotUnitManager("only the unit's manager, aid officers and admins may do this")


def ensure_member_or_officer(unit: WorkUnit, user: User) -> None:
    """Any login of the unit, aid officers and admins."""
    if user.role in OFFICERS:
        return
    member = membership(user.id)
    if member is None or member.unit_id != unit.id:
        raise NotUnitManager("only the unit's own logins, aid officers and admins may see this")


def _decide(account_id: int, *, to: str, note: str, actor: User) -> WorkUnit:
    unit = lock_unit(account_id)
    if unit.verification == to:
        raise VerificationUnchanged(f"{unit.legal_name} is already {to}", verification=to)
    event = WorkUnitVerificationEvent(
        unit_id=unit.id, from_state=unit.verification, to_state=to, note=note.strip(), actor_id=actor.id
    )
    db.session.add(event)
    unit.verification = to
    unit.verification_note = note.strip()
    unit.verified_at = utcnow() if to == "verified" else None
    db.session.flush()
    record(
        actor,
        f"work_unit.{'verified' if to == 'verified' else 'rejected'}",
        target_type="work_unit",
        target_id=account_id,
        legal_name=unit.legal_name,
        credit_code=unit.credit_code,
        before=event.from_state,
        note=note.strip(),
    )
    return unit


def verify_unit(account_id: int, *, note: str, actor: User) -> WorkUnit:
    """Verify a pending (or earlier rejected) unit with a note: its orders paid from now on are direct
    purchase."""
    if not note.strip():
        raise InvalidUnitData(
            "a verification needs a note", errors=[{"field": "note", "message": "required"}]
        )
    return _decide(account_id, to="verified", note=note, actor=actor)


def reject_unit(account_id: int, *, reason: str, actor: User) -> WorkUnit:
    """Reject a pending unit, or withdraw a verification, with a reason; its later orders are helped
    sales. What was counted before stays as it was counted."""
    if not reason.strip():
        raise InvalidUnitData(
            "a rejection needs a reason", errors=[{"field": "reason", "message": "required"}]
        )
    return _decide(account_id, to="rejected", note=reason, actor=actor)


def set_terms(account_id: int, *, days: int, actor: User) -> WorkUnit:
    """Set how many days the unit has to pay what is charged to its account."""
    if not 0 <= days <= 365:
        raise InvalidUnitData(
            "terms are 0 to 365 days", errors=[{"field": "payment_terms_days", "message": "0..365"}]
        )
    unit = lock_unit(account_id)
    before = unit.payment_terms_days
    unit.payment_terms_days = days
    db.session.flush()
    record(actor, "work_unit.terms", target_type="work_unit", target_id=account_id, before=before, after=days)
    return unit


def history(unit: WorkUnit) -> list[WorkUnitVerificationEvent]:
    return list(
        db.session.scalars(
            select(WorkUnitVerificationEvent)
            .where(WorkUnitVerificationEvent.unit_id == unit.id)
            .order_by(WorkUnitVerificationEvent.id)
        )
    )


def same_code_units(unit: WorkUnit) -> list[WorkUnit]:
    """Other units registered with the same credit code (an officer checks before verifying)."""
    return list(
        db.session.scalars(
            select(WorkUnit).where(WorkUnit.credit_code == unit.credit_code, WorkUnit.id != unit.id)
        )
    )


def add_buyer(account_id: int, *, email: str, name: str, password: str, actor: User) -> User:
    """The manager adds a login that buys for the unit (its orders are the unit's)."""
    unit = get_unit(account_id)
    ensure_can_manage(unit, actor)
    manager = db.session.get(User, unit.account_id)
    user = register_customer(
        email=email,
        password=password,
        name=name,
        buyer_kind="work_unit",
        invoice_title=manager.invoice_title,
        tax_id=manager.tax_id,
    )
    db.session.add(WorkUnitMember(user_id=user.id, unit_id=unit.id, role="buyer", added_by_id=actor.id))
    db.session.flush()
    record(actor, "work_unit.buyer_added", target_type="work_unit", target_id=account_id, email=user.email)
    return user


def members(unit: WorkUnit) -> list[tuple[WorkUnitMember, User]]:
    return list(
        db.session.execute(
            select(WorkUnitMember, User)
            .join(User, User.id == WorkUnitMember.user_id)
            .where(WorkUnitMember.unit_id == unit.id)
            .order_by(WorkUnitMember.role.desc(), User.id)
        )
    )


def unit_orders_query(unit: WorkUnit) -> Select:
    """Every order of the unit's logins, newest first (what its manager sees)."""
    ids = select(WorkUnitMember.user_id).where(WorkUnitMember.unit_id == unit.id)
    return select(Order).where(Order.user_id.in_(ids)).order_by(Order.created_at.desc(), Order.id.desc())


def units_query(*, verification: str | None = None, q: str = "") -> Select:
    stmt = select(WorkUnit)
    if verification:
        stmt = stmt.where(WorkUnit.verification == verification)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(WorkUnit.legal_name.ilike(like) | WorkUnit.credit_code.ilike(like))
    return stmt.order_by(WorkUnit.id.desc())


def counts_by_verification() -> dict[str, int]:
    return dict(
        db.session.execute(select(WorkUnit.verification, func.count()).group_by(WorkUnit.verification)).all()
    )
