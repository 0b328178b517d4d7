"""The units a pledge holds against its campaign's cap, given back and taken again.

Registered with the order lifecycle (``lifecycle.register_hold``), so an unpaid pledge that expires or is
cancelled, and a paid one that is refunded, gives its units back through the very steps every order
goes through (expiry sweep, cancellation, refunds), and a late payment takes them again if the cap and
the window still allow it. Both counters change by conditional UPDATEs only.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.outbox import enqueue
from shop.orders.lifecycle import Hold, register_hold
from shop.orders.models import Order
from shop.preorders.models import Campaign, CampaignBuyer, Pledge

HELD = "pledged"
ALLOCATE_TASK = "shop.preorders.allocate_harvest"  # workers/preorders.py


def take_units(campaign_id: int, user_id: int, quantity: int, *, per_buyer_cap: int) -> tuple[bool, bool]:
    """Count ``quantity`` units against the buyer's cap, then the campaign's: (buyer ok, campaign ok).

    The campaign row is the hot one (every buyer of the campaign updates it), so it is updated last: its
    row lock is held for as short a time as possible. A refusal leaves the caller to roll back.
    """
    db.session.execute(_insert_buyer_row().values(campaign_id=campaign_id, user_id=user_id, units=0))
    res = db.session.execute(
        update(CampaignBuyer)
        .where(
            CampaignBuyer.campaign_id == campaign_id,
            CampaignBuyer.user_id == user_id,
            CampaignBuyer.units + quantity <= per_buyer_cap,
        )
        .values(units=CampaignBuyer.units + quantity)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        return False, True
    res = db.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == "open",
            Campaign.pledged_units + quantity <= Campaign.cap_units,
        )
        .values(pledged_units=Campaign.pledged_units + quantity)
        .execution_options(synchronize_session=False)
    )
    return True, res.rowcount == 1


def _insert_buyer_row():
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    return insert(CampaignBuyer).on_conflict_do_nothing(index_elements=["campaign_id", "user_id"])


def give_back(pledge: Pledge) -> None:
    """Return a pledge's units to its campaign and its buyer (the pledge no longer holds them)."""
    q = pledge.quantity
    db.session.execute(
        update(CampaignBuyer)
        .where(
            CampaignBuyer.campaign_id == pledge.campaign_id,
            CampaignBuyer.user_id == pledge.user_id,
            CampaignBuyer.units >= q,
        )
        .values(units=CampaignBuyer.units - q)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == pledge.campaign_id, Campaign.pledged_units >= q)
        .values(pledged_units=Campaign.pledged_units - q)
        .execution_options(synchronize_session=False)
    )


def pledge_of(order: Order) -> Pledge:
    return db.session.scalars(select(Pledge).where(Pledge.order_id == order.id)).one()


def _release(order: Order) -> None:
    give_back(pledge_of(order))


def _retake(order: Order) -> bool:
    """A late payment of an expired pledge: take its units again while the campaign is open, else no."""
    pledge = pledge_of(order)
    campaign = db.session.get(Campaign, pledge.campaign_id)
    now = utcnow()
    if campaign.status != "open" or not (
        clock.aware(campaign.opens_at) <= now < clock.aware(campaign.closes_at)
    ):
        return False
    with db.session.begin_nested():
        buyer_ok, campaign_ok = take_units(
            campaign.id, pledge.user_id, pledge.quantity, per_buyer_cap=campaign.per_buyer_cap
        )
        if buyer_ok and campaign_ok:
            return True
        raise _Refused()
    return False  # pragma: no cover


class _Refused(Exception):
    pass


def _retake_or_refuse(order: Order) -> bool:
    try:
        return _retake(order)
    except _Refused:
        return False


def _paid(order: Order) -> None:
    """A pledge paid after its campaign's harvest was recorded (it was unpaid then, so not in the plan):
    it is refunded by the allocation task like the rest of the shortfall.

    The campaign row is locked first (after the order, as every pledge use case does), so a payment and
    the harvest never both miss each other: either the harvest sees this pledge paid, or this sees the
    harvest recorded.
    """
    pledge = pledge_of(order)
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == pledge.campaign_id)
        .values(id=Campaign.id)
        .execution_options(synchronize_session=False)
    )
    campaign = db.session.scalars(
        select(Campaign).where(Campaign.id == pledge.campaign_id).execution_options(populate_existing=True)
    ).one()
    if campaign.harvested_units is None or pledge.outcome is not None:
        return
    last = db.session.scalar(select(func.max(Pledge.seq)).where(Pledge.campaign_id == campaign.id)) or 0
    pledge.outcome = "refund"
    pledge.seq = last + 1
    campaign.refunded_units += pledge.quantity
    db.session.flush()
    enqueue(ALLOCATE_TASK, {"campaign_id": campaign.id}, queue="fulfilment")


register_hold("pledge", Hold(state=HELD, release=_release, retake=_retake_or_refuse, paid=_paid))
