"""What hall operators are told by the scheduler: stock alerts and the daily sales summary.

Both are notifications addressed to a location (``location_id``), shown on the hall's fulfilment page
and sent through the configured sender. Each is written in its own small transaction per location, so
one hall's trouble does not hold back the others, and deduplicated by key, so a job that runs twice (a
retry, a second beat) tells nobody twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from shop.catalog.models import Location
from shop.core import clock
from shop.core.db import atomic, db, utcnow
from shop.core.web import yuan
from shop.fulfilment.models import PickupTicket, Shipment
from shop.inventory.models import CounterSale
from shop.inventory.queries import expiring_lots, is_expired, low_stock
from shop.notifications.models import Notification
from shop.notifications.services import notify
from shop.orders.models import Order


def _locations(on: date) -> list[Location]:
    rows = db.session.scalars(select(Location).order_by(Location.id))
    return [loc for loc in rows if loc.kind != "transit" and loc.is_active_on(on)]


# -- stock alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockAlert:
    kind: str  # low | expiring | expired
    sku: str
    name: str
    quantity: int  # available units (low) or units in the lot (expiring, expired)
    threshold: int | None = None
    lot_code: str = ""
    best_before: date | None = None

    def line(self) -> str:
        if self.kind == "low":
            return f"库存不足 Low stock: {self.sku} {self.name} 可售 available {self.quantity} (≤ {self.threshold})"
        label = "已过期 Expired" if self.kind == "expired" else "临期 Expiring"
        return f"{label}: {self.sku} {self.name} 批次 lot {self.lot_code} ×{self.quantity} 保质期至 best before {self.best_before}"


def stock_alerts(location: Location, *, on: date, expiring_days: int) -> list[StockAlert]:
    """Low stock (available at or below the threshold) and lots expiring within ``expiring_days``, as the
    hall console lists them (``shop.inventory.queries``)."""
    out = [
        StockAlert("low", row.variant.sku, row.variant.name_zh, row.level.available, row.threshold)
        for row in low_stock(location)
    ]
    out += [
        StockAlert(
            "expired" if is_expired(lot, on) else "expiring",
            lot.variant.sku,
            lot.variant.name_zh,
            lot.quantity,
            lot_code=lot.code,
            best_before=lot.best_before,
        )
        for lot in expiring_lots(location, within_days=expiring_days, on=on)
    ]
    return out


def send_stock_alerts(*, now: datetime | None = None) -> int:
    """Tell each location's operators about low stock and expiring lots; return how many were told.

    A location's digest is sent again the same day only when the SKUs or lots on it changed.
    """
    now = now or utcnow()
    day = clock.local_day(now)
    days = current_app.extensions["settings"].EXPIRING_LOT_DAYS
    locations = _locations(day)
    db.session.rollback()
    told = 0
    for loc in locations:
        with atomic():
            alerts = stock_alerts(loc, on=day, expiring_days=days)
            if not alerts:
                continue
            body = "\n".join(a.line() for a in alerts)
            # Which SKUs and lots are listed, not their counts: a sale at a low-stock SKU must not send
            # the digest again, a newly low SKU or a newly expiring lot must.
            keys = sorted(f"{a.kind}:{a.sku}:{a.lot_code}" for a in alerts)
            digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
            key = f"stock-alerts:{loc.id}:{day.isoformat()}:{digest}"
            before = db.session.scalar(select(func.count()).where(Notification.dedupe_key == key))
            counts = {k: sum(1 for a in alerts if a.kind == k) for k in ("low", "expiring", "expired")}
            notify(
                dedupe_key=key,
                kind="stock_alert",
                subject=(
                    f"库存提醒 Stock alert · {loc.name_zh}: 不足 low {counts['low']}, "
                    f"临期 expiring {counts['expiring']}, 过期 expired {counts['expired']}"
                ),
                body=body,
                location_id=loc.id,
            )
            told += 0 if before else 1
    return told


# -- daily hall summary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HallSummary:
    location: Location
    day: date
    pickups: int
    pickups_fen: int
    parcels: int
    parcels_fen: int
    counter_by_method: dict[str, tuple[int, int]]  # paid_with -> (sales, fen), for the till
    waiting_pickups: int
    waiting_parcels: int

    @property
    def counter_sales(self) -> int:
        return sum(n for n, _fen in self.counter_by_method.values())

    @property
    def counter_fen(self) -> int:
        return sum(fen for _n, fen in self.counter_by_method.values())

    @property
    def total_fen(self) -> int:
        return self.pickups_fen + self.parcels_fen + self.counter_fen

    @property
    def idle(self) -> bool:
        return not (
            self.pickups or self.parcels or self.counter_sales or self.waiting_pickups or self.waiting_parcels
        )


def hall_summary(location: Location, day: date) -> HallSummary:
    """One local day at ``location``: online pickups handed over and parcels shipped (net of refunds),
    counter sales by payment method (by the tablet's sale time), and the work still open."""
    start, end = clock.day_range(day)
    net = func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0)
    pickups, pickups_fen = db.session.execute(
        select(func.count(), net)
        .select_from(PickupTicket)
        .join(Order, PickupTicket.order_id == Order.id)
        .where(
            PickupTicket.location_id == location.id,
            PickupTicket.handed_over_at >= start,
            PickupTicket.handed_over_at < end,
        )
    ).one()
    parcels, parcels_fen = db.session.execute(
        select(func.count(), net)
        .select_from(Shipment)
        .join(Order, Shipment.order_id == Order.id)
        .where(Shipment.location_id == location.id, Shipment.shipped_at >= start, Shipment.shipped_at < end)
    ).one()
    by_method = db.session.execute(
        select(CounterSale.paid_with, func.count(), func.coalesce(func.sum(CounterSale.total_fen), 0))
        .where(
            CounterSale.location_id == location.id, CounterSale.made_at >= start, CounterSale.made_at < end
        )
        .group_by(CounterSale.paid_with)
        .order_by(CounterSale.paid_with)
    ).all()
    counter_by_method = {method: (int(n), int(fen)) for method, n, fen in by_method}
    waiting_pickups = db.session.scalar(
        select(func.count()).where(PickupTicket.location_id == location.id, PickupTicket.status == "ready")
    )
    waiting_parcels = db.session.scalar(
        select(func.count()).where(
            Shipment.location_id == location.id, Shipment.status == "awaiting_dispatch"
        )
    )
    return HallSummary(
        location,
        day,
        int(pickups),
        int(pickups_fen),
        int(parcels),
        int(parcels_fen),
        counter_by_method,
        int(waiting_pickups or 0),
        int(waiting_parcels or 0),
    )


METHODS = {
    "cash": "现金 cash",
    "wechat": "微信 WeChat Pay",
    "alipay": "支付宝 Alipay",
    "card": "银行卡 card",
    "pickup_card": "提货卡 pickup card",
}


def _yuan(fen: int) -> str:
    return yuan(fen)


def summary_text(s: HallSummary) -> str:
    return "\n".join(
        [
            f"{s.day.isoformat()} · {s.location.name_zh} {s.location.name_en}",
            f"线上自提交付 Online pickups handed over: {s.pickups} 单 orders, ¥{_yuan(s.pickups_fen)}",
            f"发出包裹 Parcels shipped: {s.parcels} 单 orders, ¥{_yuan(s.parcels_fen)}",
            f"柜台销售 Counter sales: {s.counter_sales} 笔 sales, ¥{_yuan(s.counter_fen)}",
            *(
                f"  {METHODS.get(m, m)}: {n} 笔, ¥{_yuan(fen)}"
                for m, (n, fen) in sorted(s.counter_by_method.items())
            ),
            f"合计 Total: ¥{_yuan(s.total_fen)} ({s.total_fen} fen)",
            f"待自提 Pickups waiting: {s.waiting_pickups} · 待发货 Parcels to ship: {s.waiting_parcels}",
        ]
    )


def send_hall_summaries(*, day: date | None = None, now: datetime | None = None) -> int:
    """Store each location's summary of ``day`` (default: yesterday, local) for its operators, once."""
    day = day or clock.local_day(now or clock.now()) - timedelta(days=1)
    locations = _locations(day)
    db.session.rollback()
    told = 0
    for loc in locations:
        with atomic():
            summary = hall_summary(loc, day)
            if summary.idle and loc.kind not in ("hall", "fair"):
                continue  # a warehouse with nothing to report need not be told so every night
            notify(
                dedupe_key=f"hall-summary:{loc.id}:{day.isoformat()}",
                kind="hall_summary",
                subject=f"日销售汇总 Daily sales · {loc.name_zh} · {day.isoformat()} · ¥{_yuan(summary.total_fen)}",
                body=summary_text(summary),
                location_id=loc.id,
            )
            told += 1
    return told
