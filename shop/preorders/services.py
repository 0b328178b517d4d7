"""Campaign and pledge use cases: set up a campaign, pledge (an order of kind ``pledge``), cancel a
pledge before closing (a full refund), and the read side (status, progress, a buyer's pledges).

A pledge reserves no stock (there is none before the harvest). It counts against its campaign's cap and
its buyer's cap by conditional UPDATEs (``holds.take_units``), so any number of concurrent pledges never
exceed either. It is paid like any order (manual, Stripe, pickup card); unpaid it expires with the order
sweep, and every way an order gives back what it holds gives the units back (``holds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, func, select, update

from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import db, utcnow
from shop.orders.lifecycle import lock_order
from shop.orders.models import Order, OrderLine, OrderStatusChange
from shop.orders.services import (
    FREE_SHIPPING_FROM_FEN,
    SHIPPING_FEE_FEN,
    DeliveryRequest,
    _check_address,
    _pickup_hall,
    cancel_order,
    new_order_number,
    reservation_minutes,
)
from shop.payments import refunds
from shop.payments.gateways import configured_gateway_name
from shop.preorders import holds
from shop.preorders.errors import (
    BuyerCapReached,
    CampaignCodeTaken,
    CampaignNotFound,
    CampaignNotOpen,
    CapReached,
    InvalidCampaign,
    InvalidPledge,
    PledgeNotCancellable,
    PledgeNotFound,
)
from shop.preorders.models import Campaign, CampaignBuyer, Pledge

MAX_CAP_UNITS = 1_000_000


# -- campaigns --------------------------------------------------------------------------------------


def get_campaign(code: str) -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        raise CampaignNotFound(f"campaign {code!r} does not exist")
    return campaign


def lock_campaign(code: str) -> Campaign:
    """Lock the campaign row for this transaction (a no-op UPDATE) and return it freshly loaded."""
    res = db.session.execute(
        update(Campaign)
        .where(Campaign.code == code)
        .values(id=Campaign.id)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise CampaignNotFound(f"campaign {code!r} does not exist")
    return db.session.scalars(
        select(Campaign).where(Campaign.code == code).execution_options(populate_existing=True)
    ).one()


def status_of(campaign: Campaign, now: datetime | None = None) -> str:
    """draft, open, closed (open but past its closing time), harvested (allocating), done."""
    now = now or utcnow()
    if campaign.status == "open" and now >= clock.aware(campaign.closes_at):
        return "closed"
    return campaign.status


def is_taking_pledges(campaign: Campaign, now: datetime) -> bool:
    return campaign.status == "open" and clock.aware(campaign.opens_at) <= now < clock.aware(
        campaign.closes_at
    )


def create_campaign(
    *,
    code: str,
    name: str,
    sku: str,
    price_fen: int,
    cap_units: int,
    per_buyer_cap: int,
    opens_at: datetime,
    closes_at: datetime,
    ships_from: date,
    actor: User,
    ships_until: date | None = None,
    location: str | None = None,
    name_en: str = "",
    story: str = "",
    cover_url: str = "",
    status: str = "open",
) -> Campaign:
    """Set up a campaign for one SKU (``draft`` to prepare it first, ``open`` to take pledges in its window).

    ``location`` is where the harvest will be received and pledges fulfilled from: a location that ships
    (default: the first one, the county warehouse in the demo).
    """
    errors = []
    variant = db.session.scalar(select(Variant).where(Variant.sku == sku))
    if variant is None:
        errors.append({"field": "sku", "message": f"unknown SKU {sku}"})
    if clock.aware(closes_at) <= clock.aware(opens_at):
        errors.append({"field": "closes_at", "message": "must be after opens_at"})
    if per_buyer_cap > cap_units:
        errors.append({"field": "per_buyer_cap", "message": "at most cap_units"})
    if ships_until is not None and ships_until < ships_from:
        errors.append({"field": "ships_until", "message": "must not be before ships_from"})
    if status not in ("draft", "open"):
        errors.append({"field": "status", "message": "draft or open"})
    if location:
        loc = db.session.scalar(select(Location).where(Location.code == location))
        if loc is None or not loc.ships:
            errors.append({"field": "location", "message": "a location that ships orders"})
    else:
        loc = db.session.scalar(select(Location).where(Location.ships.is_(True)).order_by(Location.id))
        if loc is None:
            errors.append({"field": "location", "message": "no location ships orders"})
    if errors:
        raise InvalidCampaign("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    if db.session.scalar(select(Campaign.id).where(Campaign.code == code)) is not None:
        raise CampaignCodeTaken(f"campaign code {code} is taken")
    campaign = Campaign(
        code=code,
        name=name,
        name_en=name_en,
        story=story,
        cover_url=cover_url,
        variant_id=variant.id,
        location_id=loc.id,
        price_fen=price_fen,
        cap_units=cap_units,
        per_buyer_cap=per_buyer_cap,
        pledged_units=0,
        opens_at=opens_at,
        closes_at=closes_at,
        ships_from=ships_from,
        ships_until=ships_until,
        status=status,
    )
    db.session.add(campaign)
    db.session.flush()
    record(actor, "campaign.created", target_type="campaign", target_id=campaign.id, code=code)
    return campaign


def set_campaign_status(code: str, *, status: str, actor: User) -> Campaign:
    """Publish a draft (``open``) or take an open campaign back to ``draft`` before anyone pledged."""
    campaign = lock_campaign(code)
    if status not in ("draft", "open"):
        raise InvalidCampaign(
            "status must be draft or open", errors=[{"field": "status", "message": "draft or open"}]
        )
    if campaign.status not in ("draft", "open") or (status == "draft" and campaign.pledged_units):
        raise CampaignNotOpen(f"campaign {code} is {status_of(campaign)}; it cannot become {status}")
    campaign.status = status
    db.session.flush()
    record(actor, "campaign.status", target_type="campaign", target_id=campaign.id, code=code, status=status)
    return campaign


def campaigns_query(*, public: bool = True) -> Select:
    stmt = select(Campaign)
    if public:
        stmt = stmt.where(Campaign.status != "draft")
    return stmt.order_by(Campaign.opens_at.desc(), Campaign.id.desc())


@dataclass(frozen=True)
class Progress:
    """What the campaign page shows: units pledged and paid (not merely reserved, not page views)."""

    paid_units: int
    pending_units: int  # pledged, awaiting payment (they expire if unpaid)
    remaining_units: int  # still open to pledges
    percent: int  # paid units as a whole percentage of the cap


def progress_of(campaign: Campaign) -> Progress:
    paid = db.session.scalar(
        select(func.coalesce(func.sum(Pledge.quantity), 0))
        .join(Order, Order.id == Pledge.order_id)
        .where(
            Pledge.campaign_id == campaign.id,
            Order.status.in_(("paid", "fulfilling", "ready_for_pickup", "shipped", "completed")),
        )
    )
    pending = db.session.scalar(
        select(func.coalesce(func.sum(Pledge.quantity), 0))
        .join(Order, Order.id == Pledge.order_id)
        .where(Pledge.campaign_id == campaign.id, Order.status == "pending_payment")
    )
    paid, pending = int(paid or 0), int(pending or 0)
    remaining = max(campaign.cap_units - campaign.pledged_units, 0)
    return Progress(paid, pending, remaining, min(100, paid * 100 // campaign.cap_units))


# -- pledges ----------------------------------------------------------------------------------------


def place_pledge(
    buyer: User, code: str, quantity: int, delivery: DeliveryRequest, *, now: datetime | None = None
) -> Pledge:
    """Pledge ``quantity`` units of a campaign: a pending order of kind ``pledge`` with one line at the
    campaign price, counted against both caps; nothing else is reserved.

    Raises CampaignNotOpen (409, outside the window), BuyerCapReached / CapReached (409),
    InvalidPledge / InvalidDelivery (422); nothing is written then.
    """
    now = now or utcnow()
    today = clock.local_day(now)
    campaign = get_campaign(code)
    if not is_taking_pledges(campaign, now):
        raise CampaignNotOpen(
            f"campaign {code} takes pledges from {clock.format_local(campaign.opens_at)} "
            f"until {clock.format_local(campaign.closes_at)}; it is {status_of(campaign, now)}"
        )
    if not isinstance(quantity, int) or quantity < 1:
        raise InvalidPledge("quantity must be at least 1", errors=[{"field": "quantity", "message": ">= 1"}])
    if quantity > campaign.per_buyer_cap:
        raise BuyerCapReached(
            f"one buyer may pledge at most {campaign.per_buyer_cap} units of {code}",
            errors=[{"field": "quantity", "message": f"at most {campaign.per_buyer_cap}"}],
        )
    variant = campaign.variant
    product = variant.product
    order = Order(
        kind="pledge",
        user_id=buyer.id,
        status="pending_payment",
        gateway=configured_gateway_name(),
        buyer_kind=buyer.buyer_kind,
        invoice_title=buyer.invoice_title if buyer.buyer_kind == "work_unit" else "",
        tax_id=buyer.tax_id if buyer.buyer_kind == "work_unit" else "",
        delivery_type=delivery.type,
        delivery_note=delivery.note.strip()[:200],
        reservation_state=holds.HELD,
        created_at=now,
        location_id=campaign.location_id,
    )
    if delivery.type == "pickup":
        order.pickup_location = _pickup_hall(delivery.location, today)
    elif delivery.type == "ship":
        _check_address(delivery)
        order.recipient = delivery.recipient.strip()
        order.phone = delivery.phone.strip()
        order.city = "天津市"
        order.district = delivery.district
        order.street_address = delivery.street_address.strip()
    else:
        raise InvalidPledge(
            "delivery type must be ship or pickup",
            errors=[{"field": "delivery.type", "message": "ship or pickup"}],
        )
    cert = product.producer.certificate_on(today)
    subtotal = campaign.price_fen * quantity
    order.lines.append(
        OrderLine(
            variant_id=variant.id,
            sku=variant.sku,
            name_zh=f"{product.name_zh} · {variant.name_zh}（认购）",
            name_en=f"{product.name_en} · {variant.name_en} (pre-order)",
            unit_zh=variant.unit_zh,
            unit_en=variant.unit_en,
            producer_id=product.producer_id,
            producer_name_zh=product.producer.name_zh,
            producer_name_en=product.producer.name_en,
            certificate_number=cert.number if cert else None,
            unit_price_fen=campaign.price_fen,
            quantity=quantity,
            line_total_fen=subtotal,
        )
    )
    shipping = SHIPPING_FEE_FEN if delivery.type == "ship" and subtotal < FREE_SHIPPING_FROM_FEN else 0
    order.subtotal_fen = subtotal
    order.shipping_fen = shipping
    order.total_fen = subtotal + shipping
    order.number = new_order_number(now)
    order.reserved_until = now + timedelta(minutes=reservation_minutes(order.gateway))
    db.session.add(order)
    db.session.flush()
    db.session.add(
        OrderStatusChange(
            order_id=order.id,
            from_status=None,
            to_status="pending_payment",
            actor_id=buyer.id,
            reason="pledge",
        )
    )
    pledge = Pledge(
        campaign_id=campaign.id, order_id=order.id, user_id=buyer.id, quantity=quantity, created_at=now
    )
    db.session.add(pledge)
    db.session.flush()
    # Last, as with stock: the campaign row is every pledger's hot row.
    buyer_ok, campaign_ok = holds.take_units(
        campaign.id, buyer.id, quantity, per_buyer_cap=campaign.per_buyer_cap
    )
    if not buyer_ok:
        raise BuyerCapReached(
            f"one buyer may pledge at most {campaign.per_buyer_cap} units of {code} in all",
            errors=[{"field": "quantity", "message": f"at most {campaign.per_buyer_cap} in all"}],
        )
    if not campaign_ok:
        left = db.session.scalar(
            select(Campaign.cap_units - Campaign.pledged_units).where(Campaign.id == campaign.id)
        )
        raise CapReached(
            f"only {max(int(left or 0), 0)} units of {code} are left",
            errors=[{"field": "quantity", "message": f"at most {max(int(left or 0), 0)} left"}],
            remaining_units=max(int(left or 0), 0),
        )
    return pledge


def get_pledge(pledge_id: int) -> Pledge:
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None:
        raise PledgeNotFound(f"pledge {pledge_id} does not exist")
    return pledge


def pledge_for_viewer(pledge_id: int, viewer: User) -> Pledge:
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or (pledge.user_id != viewer.id and viewer.role not in ("admin", "aid_officer")):
        raise PledgeNotFound(f"pledge {pledge_id} does not exist")
    return pledge


def pledge_status(pledge: Pledge, order: Order | None = None) -> str:
    """pending_payment, paid (waiting for the harvest), filled, refunded, cancelled or expired."""
    order = order or db.session.get(Order, pledge.order_id)
    if order.status in ("pending_payment", "cancelled", "expired", "refunded"):
        return order.status
    if pledge.outcome == "fill" and pledge.settled_at is not None:
        return "filled"
    return "paid" if order.status == "paid" else order.status


def pledges_query(viewer: User, *, campaign: Campaign | None = None, mine_only: bool = True) -> Select:
    stmt = select(Pledge)
    if mine_only or viewer.role not in ("admin", "aid_officer"):
        stmt = stmt.where(Pledge.user_id == viewer.id)
    if campaign is not None:
        stmt = stmt.where(Pledge.campaign_id == campaign.id)
    return stmt.order_by(Pledge.id.desc())


def buyer_units(campaign: Campaign, user: User) -> int:
    return int(
        db.session.scalar(
            select(CampaignBuyer.units).where(
                CampaignBuyer.campaign_id == campaign.id, CampaignBuyer.user_id == user.id
            )
        )
        or 0
    )


def cancel_pledge(pledge_id: int, *, buyer: User, now: datetime | None = None) -> Pledge:
    """The buyer withdraws before closing: unpaid, the order is cancelled; paid, refunded in full through
    the gateway that took the money. Either way the units go back to the campaign."""
    now = now or utcnow()
    pledge = pledge_for_viewer(pledge_id, buyer)
    if pledge.user_id != buyer.id:
        raise PledgeNotFound(f"pledge {pledge_id} does not exist")
    order = lock_order(pledge.order_id)
    campaign = pledge.campaign
    if not is_taking_pledges(campaign, now) and order.status != "pending_payment":
        raise PledgeNotCancellable(
            f"campaign {campaign.code} closed on {clock.format_local(campaign.closes_at)}; "
            "paid pledges wait for the harvest"
        )
    if order.status == "pending_payment":
        cancel_order(order.id, actor=buyer, reason="pledge withdrawn by the buyer")
    elif order.status == "paid" and order.reservation_state == holds.HELD:
        refunds.create_refund(order, reason="pledge withdrawn before closing", actor_id=buyer.id, full=True)
    else:
        raise PledgeNotCancellable(f"pledge {pledge_id} is {pledge_status(pledge, order)}")
    return pledge


def order_of(pledge: Pledge) -> Order:
    return db.session.get(Order, pledge.order_id)
