"""What the hall tablet keeps for working offline, and the hall's day: report, count sheet, sign-off."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.catalog.models import Location
from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.errors import ValidationFailed
from shop.counter.models import DaySignOff
from shop.inventory import queries
from shop.inventory.models import PAYMENT_METHODS, CounterSale

MAX_NOTE = 2000


def snapshot(location: Location) -> dict:
    """Return the catalogue, prices and stock of ``location`` as the tablet keeps them offline.

    Every active SKU with stock rows at the hall is listed with its price and the units the server
    would sell now (available, less units in lots past best-before); ``as_of`` says when, so the
    tablet can show how old its view is. The server stays the judge when the sales are replayed.
    """
    today = clock.today()
    rows, _total = queries.location_stock(location, per_page=500)
    items = []
    for row in rows:
        variant = row.variant
        if not variant.active:
            continue
        items.append(
            {
                "sku": variant.sku,
                "name": variant.name_zh,
                "name_en": variant.name_en,
                "unit": variant.unit_zh,
                "unit_en": variant.unit_en,
                "price_fen": variant.price_fen,
                "available": max(row.level.available - row.expired, 0),
                "on_hand": row.level.on_hand,
            }
        )
    start, end = clock.day_range(today)
    sold_today = db.session.scalars(
        select(CounterSale)
        .where(
            CounterSale.location_id == location.id, CounterSale.made_at >= start, CounterSale.made_at < end
        )
        .order_by(CounterSale.made_at.desc(), CounterSale.id.desc())
        .limit(200)
    )
    return {
        "location": location.code,
        "name": location.name_zh,
        "name_en": location.name_en,
        "as_of": clock.now().isoformat(),
        "day": today.isoformat(),
        "currency": "CNY",
        "pay_methods": list(PAYMENT_METHODS),
        "items": items,
        "sales_today": [
            {
                "id": sale.id,
                "client_sale_id": sale.client_sale_id,
                "paid_with": sale.paid_with,
                "total_fen": sale.total_fen,
                "made_at": clock.aware(sale.made_at).isoformat(),
                "lines": [{"sku": ln.variant.sku, "quantity": ln.quantity} for ln in sale.lines],
            }
            for sale in sold_today
        ],
    }


@dataclass
class DayReport:
    location: Location
    day: date
    sales_count: int = 0
    total_fen: int = 0
    by_method: OrderedDict[str, list[int]] = field(default_factory=OrderedDict)  # method: [sales, fen]
    by_product: OrderedDict[str, dict] = field(default_factory=OrderedDict)  # sku: {name, units, fen}
    signoff: DaySignOff | None = None
    signer: str | None = None

    @property
    def changed_since_signoff(self) -> bool:
        """True when sales came in (a late replay) after the day was signed."""
        s = self.signoff
        return s is not None and (s.sales_count, s.total_fen) != (self.sales_count, self.total_fen)


def day_report(location: Location, day: date) -> DayReport:
    """Return the day's counter sales at ``location`` by pay method and by product, and its sign-off."""
    report = DayReport(location, day, by_method=OrderedDict((m, [0, 0]) for m in PAYMENT_METHODS))
    start, end = clock.day_range(day)
    for sale in db.session.scalars(
        select(CounterSale)
        .where(
            CounterSale.location_id == location.id, CounterSale.made_at >= start, CounterSale.made_at < end
        )
        .order_by(CounterSale.id)
    ):
        report.sales_count += 1
        report.total_fen += sale.total_fen
        report.by_method[sale.paid_with][0] += 1
        report.by_method[sale.paid_with][1] += sale.total_fen
        for line in sale.lines:
            entry = report.by_product.setdefault(
                line.variant.sku,
                {"name": line.variant.name_zh, "name_en": line.variant.name_en, "units": 0, "fen": 0},
            )
            entry["units"] += line.quantity
            entry["fen"] += line.amount_fen
    report.by_product = OrderedDict(sorted(report.by_product.items()))
    report.signoff = _signoff(location, day)
    if report.signoff and report.signoff.signed_by_id:
        report.signer = queries.actor_emails({report.signoff.signed_by_id}).get(report.signoff.signed_by_id)
    return report


def _signoff(location: Location, day: date) -> DaySignOff | None:
    return db.session.scalar(
        select(DaySignOff)
        .where(DaySignOff.location_id == location.id, DaySignOff.day == day)
        .execution_options(populate_existing=True)
    )


def sign_off_day(location: Location, day: date, *, actor: User, note: str = "") -> tuple[DaySignOff, bool]:
    """Sign the hall's day with the totals of its report now; return the sign-off and whether it is new.

    A day not over yet cannot be signed before it starts, and a day is signed once: a repeat (or a
    second tablet at the same moment) returns the first signature unchanged.
    """
    if day > clock.today():
        raise ValidationFailed(
            "a day in the future cannot be signed", errors=[{"field": "day", "message": "in the future"}]
        )
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(
            f"the note is longer than {MAX_NOTE} characters",
            errors=[{"field": "note", "message": f"at most {MAX_NOTE} characters"}],
        )
    found = _signoff(location, day)
    if found is not None:
        return found, False
    report = day_report(location, day)
    signoff = DaySignOff(
        location_id=location.id,
        day=day,
        sales_count=report.sales_count,
        total_fen=report.total_fen,
        note=note,
        signed_by_id=actor.id,
        signed_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(signoff)
            db.session.flush()
    except IntegrityError:
        found = _signoff(location, day)
        if found is None:
            raise
        return found, False
    return signoff, True
