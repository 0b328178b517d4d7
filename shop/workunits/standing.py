"""Who buys for which unit, and whether a purchase counts as the unit's direct purchase right now.

Read by the order lifecycle when an order is paid and by counter sales paid with a pickup card: the
decision is taken at that moment and written into the aid entries (their ``direct_purchase`` and
``buyer_id``), so a later verification or rejection never changes what was counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from shop.core.db import db
from shop.workunits.models import WorkUnit, WorkUnitMember


@dataclass(frozen=True)
class AidStanding:
    """How a purchase is counted: direct purchase or helped sales, and whose it is."""

    direct_purchase: bool
    buyer_id: int  # the unit's account (its id in the API) for unit purchases, else the buyer


def membership(user_id: int) -> WorkUnitMember | None:
    return db.session.scalar(select(WorkUnitMember).where(WorkUnitMember.user_id == user_id))


def manages(manager_id: int, buyer_id: int) -> bool:
    """Whether ``manager_id`` is the manager of the unit ``buyer_id`` buys for."""
    if manager_id == buyer_id:
        return False
    manager, buyer = membership(manager_id), membership(buyer_id)
    return bool(manager and buyer and manager.role == "manager" and manager.unit_id == buyer.unit_id)


def unit_of(user_id: int) -> WorkUnit | None:
    """The unit ``user_id`` buys for (as its manager or one of its buyers), if any."""
    member = membership(user_id)
    return member.unit if member else None


def unit_by_account(account_id: int) -> WorkUnit | None:
    """The unit whose registering account (its id in the API) is ``account_id``."""
    return db.session.scalar(select(WorkUnit).where(WorkUnit.account_id == account_id))


def verification_of(user_id: int) -> str | None:
    """``pending`` / ``verified`` / ``rejected`` for a unit's logins, None for everyone else."""
    unit = unit_of(user_id)
    return unit.verification if unit else None


def unit_standing(unit: WorkUnit) -> AidStanding:
    """A purchase paid by ``unit`` (its card) now: direct purchase only while it is verified."""
    return AidStanding(direct_purchase=unit.verified, buyer_id=unit.account_id)


def buyer_standing(user_id: int, buyer_kind: str = "work_unit") -> AidStanding:
    """An order of ``user_id`` paid now: the unit's direct purchase if it buys for a verified unit;
    helped sales otherwise (a consumer, or a unit not verified, or no longer).

    ``buyer_kind`` is the order's snapshot: a consumer's order is helped sales without a look-up (every
    login of a unit is a work-unit account, and a consumer account never joins a unit).
    """
    if buyer_kind != "work_unit":
        return AidStanding(direct_purchase=False, buyer_id=user_id)
    unit = unit_of(user_id)
    if unit is None:
        return AidStanding(direct_purchase=False, buyer_id=user_id)
    return unit_standing(unit)
