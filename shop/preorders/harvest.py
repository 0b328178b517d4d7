"""The harvest: receive the crop, decide who is filled, then fill and refund pledges in batches.

``record_harvest`` (the admin's call, one unit of work) receives the harvested units into the campaign's
location through the stock ledger (a ``receipt`` on a lot with its dates) and fixes the plan: paid pledges in the order they were paid (``paid_at``, then order id) are filled
while whole pledges fit, the rest are refunded (pledges unpaid at harvest are not in the plan: they
expire, or are refunded when paid late). The units to fill are held at once under the campaign's
key (``campaign:<code>``), so no ordinary order can take them meanwhile. Repeating the same call changes
nothing; another number for a recorded harvest is refused.

``allocate_batch`` (the task ``shop.preorders.allocate_harvest``) then settles the planned pledges in
plan order, each in its own transaction guarded by ``settled_at IS NULL``: a fill moves the held units
to the pledge's order (released under the campaign key, reserved under the order's), counts it in the aid
ledger under channel ``subscription`` and sends it to fulfilment like any paid order; a refund gives the
whole payment back through the gateway that took it (never counted, nothing to reverse). A worker killed
half-way leaves every pledge either settled or untouched, and the redelivered message goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from sqlalchemy import select, update

from shop.accounts.models import User
from shop.aid.services import SaleLine, record_sale
from shop.audit.services import record
from shop.catalog.models import Location
from shop.core import clock
from shop.core.db import atomic, db, utcnow
from shop.core.outbox import enqueue
from shop.inventory import services as stock
from shop.notifications.services import notify
from shop.orders.lifecycle import lock_order
from shop.orders.models import Order
from shop.payments import refunds
from shop.preorders import holds
from shop.preorders.errors import HarvestRefused, InvalidCampaign
from shop.preorders.models import Campaign, Pledge
from shop.preorders.services import lock_campaign, status_of
from shop.workunits.standing import buyer_standing

TASK = holds.ALLOCATE_TASK
QUEUE = "fulfilment"
BATCH = 50


@dataclass(frozen=True)
class Harvest:
    campaign: Campaign
    allocated_units: int
    refunded_units: int


def record_harvest(
    code: str,
    *,
    units: int,
    actor: User,
    lot: str = "",
    harvested_on: date | None = None,
    best_before: date | None = None,
    now: datetime | None = None,
) -> Harvest:
    """Receive ``units`` of the campaign's SKU and plan who is filled and who refunded; queue the work."""
    now = now or utcnow()
    if units < 0:
        raise InvalidCampaign("units must not be negative", errors=[{"field": "units", "message": ">= 0"}])
    # Unpaid pledges are left out of the plan: they expire with the order sweep, and one paid later is
    # refunded (``holds._paid``). No order row is locked while the campaign row is: the sweep and the
    # payments lock an order, then the campaign, and the other order here could deadlock with them.
    campaign = lock_campaign(code)
    if campaign.harvested_units is not None:
        if campaign.harvested_units == units:
            return Harvest(campaign, campaign.allocated_units, campaign.refunded_units)
        raise HarvestRefused(
            f"the harvest of {code} was recorded as {campaign.harvested_units} units; it cannot change"
        )
    if campaign.status == "draft" or now < clock.aware(campaign.closes_at):
        raise HarvestRefused(
            f"campaign {code} is {status_of(campaign, now)}: record the harvest once it has closed"
        )
    paid = list(
        db.session.execute(
            select(Pledge, Order.paid_at)
            .join(Order, Order.id == Pledge.order_id)
            .where(
                Pledge.campaign_id == campaign.id,
                Order.status == "paid",
                Order.reservation_state == holds.HELD,
            )
            .order_by(Order.paid_at, Order.id)
        ).all()
    )
    left, allocated, refunded, full = units, 0, 0, False
    for seq, (pledge, _paid_at) in enumerate(paid, start=1):
        pledge.seq = seq
        # Strictly in payment order: once a whole pledge does not fit, every later one is refunded too.
        if not full and pledge.quantity <= left:
            pledge.outcome = "fill"
            left -= pledge.quantity
            allocated += pledge.quantity
        else:
            full = True
            pledge.outcome = "refund"
            refunded += pledge.quantity
    location = campaign.location
    variant = campaign.variant
    if units:
        stock.add_stock(
            variant,
            location,
            units,
            kind="receipt",
            lot_code=lot or f"{code}-{clock.local_day(now).isoformat()}",
            harvested_on=harvested_on,
            best_before=best_before,
            actor_id=actor.id,
            reason=f"harvest of campaign {code}",
            reference=campaign.reference_key,
            strict_dates=True,
        )
    if allocated:
        stock.reserve([(variant, allocated)], location, reference=campaign.reference_key, actor_id=actor.id)
    campaign.status = "harvested"
    campaign.harvested_units = units
    campaign.allocated_units = allocated
    campaign.refunded_units = refunded
    campaign.harvest_lot = lot
    campaign.harvested_at = now
    db.session.flush()
    enqueue(TASK, {"campaign_id": campaign.id}, queue=QUEUE)
    record(
        actor, "campaign.harvested", target_type="campaign", target_id=campaign.id, code=code,
        units=units, allocated_units=allocated, refunded_units=refunded,
    )  # fmt: skip
    return Harvest(campaign, allocated, refunded)


# -- the allocation task ----------------------------------------------------------------------------


def allocate_batch(campaign_id: int, *, batch: int = BATCH) -> int:
    """Settle up to ``batch`` planned pledges, each in its own transaction; return how many are left.

    Safe to run twice and concurrently: a pledge is claimed by ``UPDATE ... WHERE settled_at IS NULL``.
    When none are left the campaign becomes ``done``; otherwise the next batch is queued.
    """
    ids = list(
        db.session.scalars(
            select(Pledge.id)
            .where(
                Pledge.campaign_id == campaign_id, Pledge.outcome.is_not(None), Pledge.settled_at.is_(None)
            )
            .order_by(Pledge.seq)
            .limit(batch)
        )
    )
    db.session.rollback()
    for pledge_id in ids:
        with atomic():
            settle_pledge(pledge_id)
    with atomic():
        left = db.session.scalar(
            select(db.func.count())
            .select_from(Pledge)
            .where(
                Pledge.campaign_id == campaign_id, Pledge.outcome.is_not(None), Pledge.settled_at.is_(None)
            )
        )
        if left:
            enqueue(TASK, {"campaign_id": campaign_id}, queue=QUEUE)
        else:
            db.session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == "harvested")
                .values(status="done")
            )
    return int(left or 0)


def settle_pledge(pledge_id: int, *, now: datetime | None = None) -> str:
    """Fill or refund one planned pledge, once (the caller's unit of work)."""
    now = now or utcnow()
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or pledge.outcome is None:
        return "not planned"
    order = lock_order(pledge.order_id)
    claimed = db.session.execute(
        update(Pledge)
        .where(Pledge.id == pledge_id, Pledge.settled_at.is_(None))
        .values(settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return "already settled"
    db.session.refresh(pledge)
    campaign = db.session.get(Campaign, pledge.campaign_id)
    variant = campaign.variant
    location: Location = campaign.location
    in_play = order.status == "paid" and order.reservation_state == holds.HELD
    if pledge.outcome == "fill" and not in_play:
        # Refunded by staff meanwhile: its held units go back to ordinary sale.
        stock.release(
            [(variant, pledge.quantity)], location, reference=campaign.reference_key, reason="pledge gone"
        )
        pledge.outcome = "skip"
        db.session.flush()
        return "skipped"
    if pledge.outcome == "fill":
        _fill(pledge, order, campaign, now)
        _step_delay()
        return "filled"
    if in_play:
        refunds.create_refund(order, reason="harvest short: pledge not filled", actor_id=None, full=True)
        _tell(order, pledge, "refunded")
    _step_delay()
    return "refunded"


def _step_delay() -> None:
    """Test and chaos knob (the fulfilment queue's): hold the open transaction so a crash test can kill a
    worker in the middle of a settlement."""
    delay = current_app.extensions["settings"].FULFILMENT_STEP_DELAY_MS
    if delay:
        time.sleep(delay / 1000)


def _fill(pledge: Pledge, order: Order, campaign: Campaign, now: datetime) -> None:
    variant = campaign.variant
    location = campaign.location
    # The hold on the campaign's cap is done with: the units are real stock now, held for this order.
    stock.release(
        [(variant, pledge.quantity)], location, reference=campaign.reference_key, reason="pledge filled"
    )
    stock.reserve([(variant, pledge.quantity)], location, reference=order.reference_key)
    order.reservation_state = "held"
    standing = buyer_standing(order.user_id, order.buyer_kind)
    record_sale(
        source=order.reference_key,
        occurred_at=now,
        channel="subscription",
        lines=[
            SaleLine(ln.variant_id, ln.quantity, ln.line_total_fen, order.location_id) for ln in order.lines
        ],
        direct_purchase=standing.direct_purchase,
        buyer_id=standing.buyer_id,
    )
    order.aid_counted = True
    db.session.flush()
    enqueue("shop.fulfilment.fulfil_order", {"order_id": order.id}, queue="fulfilment")
    _tell(order, pledge, "filled")


NOTICES = {
    "filled": (
        "好消息：您认购的{name}已采收，{q}件已为您备货，即将发出。",
        "Good news: the harvest is in and your {q} unit(s) of {name_en} are on their way.",
    ),
    "refunded": (
        "很抱歉，{name}今年收成不足，您的认购未能满足，款项已全额原路退回。",
        "Sorry: the {name_en} harvest fell short and your pledge could not be filled; "
        "it was refunded in full to how you paid.",
    ),
}


def _tell(order: Order, pledge: Pledge, kind: str) -> None:
    campaign = pledge.campaign
    zh, en = NOTICES[kind]
    values = {"name": campaign.name, "name_en": campaign.name_en or campaign.name, "q": pledge.quantity}
    base = current_app.extensions["settings"].PUBLIC_BASE_URL.rstrip("/")
    notify(
        dedupe_key=f"pledge:{pledge.id}:{kind}",
        kind=f"pledge_{kind}",
        subject=f"认购 Pre-order · {campaign.name} · {order.number}"[:200],
        body=f"{zh.format(**values)}\n{en.format(**values)}\n\n订单号 Order {order.number}\n{base}/orders/{order.id}",
        user=db.session.get(User, order.user_id),
    )
