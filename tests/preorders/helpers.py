"""Builders for pre-order tests: a campaign open now, buyers, paying pledges, settling a harvest."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from shop.accounts.models import User
from shop.core.db import atomic, db, utcnow
from shop.orders.models import Order
from shop.payments.services import confirm_manual_payment
from shop.preorders import harvest, services
from shop.preorders.models import Campaign, Pledge
from tests.conftest import create_user

SKU = "APL-HN-5KG"
PRICE = 6_000
PICKUP = {"type": "pickup", "location": "DL-HM"}


def admin() -> User:
    existing = db.session.scalar(select(User).where(User.email == "admin@preorders.cn"))
    return existing or create_user("admin@preorders.cn", role="admin")


def campaign(
    code: str = "HN-2026",
    *,
    cap: int = 100,
    per_buyer: int = 2,
    opens: datetime | None = None,
    closes: datetime | None = None,
    status: str = "open",
) -> Campaign:
    now = utcnow()
    with atomic():
        return services.create_campaign(
            code=code,
            name="花牛苹果 2026 认购",
            name_en="Huaniu apples 2026 pre-order",
            sku=SKU,
            price_fen=PRICE,
            cap_units=cap,
            per_buyer_cap=per_buyer,
            opens_at=opens or now - timedelta(hours=1),
            closes_at=closes or now + timedelta(hours=1),
            ships_from=date(2026, 9, 15),
            actor=admin(),
            story="安远镇海拔 1400 米的果园。",
            status=status,
        )


def close(code: str) -> datetime:
    """Move the campaign's closing time into the past (as if the window ran out); return now."""
    now = utcnow()
    with atomic():
        c = db.session.scalar(select(Campaign).where(Campaign.code == code))
        c.opens_at = now - timedelta(hours=3)
        c.closes_at = now - timedelta(minutes=1)
    return now


def pay_manually(order_id: int, *, at: datetime) -> None:
    with atomic():
        confirm_manual_payment(order_id, staff=admin(), method="cash", now=at)


def settle_all(campaign_id: int, *, batch: int = 30) -> None:
    """Run the allocation task's work until nothing is left (as the queued messages would)."""
    while harvest.allocate_batch(campaign_id, batch=batch):
        pass


def pledge_orders(code: str) -> list[tuple[Pledge, Order]]:
    db.session.rollback()
    return list(
        db.session.execute(
            select(Pledge, Order)
            .join(Order, Order.id == Pledge.order_id)
            .join(Campaign, Campaign.id == Pledge.campaign_id)
            .where(Campaign.code == code)
            .order_by(Pledge.id)
        ).all()
    )
