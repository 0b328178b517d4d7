"""Aid totals for officers and the public: read from the per-dimension summaries (and the entries not\nfolded into them yet), so they cost the same at any volume.

What the figures mean (docs/aid.md says the same for officers):

- ``total_fen``: every sale recorded in the aid ledger for the programme in the range (online, halls,
  fairs, subscriptions, charity sales, work units), certified or not, net of refunds.
- ``qualifying_fen``: the part whose producer held a valid aid certificate on the day of sale. Only this
  counts toward the target: ``progress = qualifying_fen / target_fen``.
- ``direct_purchase_fen`` + ``helped_sales_fen`` = ``qualifying_fen``: the reported split of the counted
  amount (work units buying for themselves vs sales arranged for consumers).
- Every breakdown item carries both ``total_fen`` and ``qualifying_fen``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select

from shop.accounts.models import User
from shop.aid import cache, summaries
from shop.aid.charity import charity_totals
from shop.aid.errors import BadDateRange, RangeTooLong
from shop.aid.models import (
    ROLLUP_DIMS,
    AidEntry,
    AidImport,
    AidProgramme,
    AidReconciliationRun,
    AidRollup,
    PartnerPlatform,
)
from shop.catalog.models import Category, Location, Producer
from shop.catalog.townships import find_township
from shop.core import clock
from shop.core.db import db
from shop.workunits.models import PickupCard, PickupCardBatch, WorkUnit

CHANNEL_NAMES: dict[str, tuple[str, str]] = {
    "online": ("线上商城", "Online shop"),
    "hall": ("扶贫展卖馆", "Exhibition halls"),
    "fair": ("展会展销", "Trade fairs"),
    "subscription": ("认购", "Subscriptions"),
    "charity_sale": ("爱心义卖", "Charity sales"),
    "work_unit": ("单位采购", "Work-unit purchases"),
    "partner_platform": ("合作电商平台", "Partner platforms"),
    "charity": ("义卖", "Charity sales of one-off items"),
}
NO_LOCATION = ("未指定地点", "No location")


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def resolve_range(
    programme: AidProgramme, start: date | None, end: date | None, *, max_days: int | None = None
) -> DateRange:
    """Default to the programme's period; refuse reversed ranges, ranges outside it, or too long ones."""
    start = start or programme.starts_on
    end = end or programme.ends_on
    if start > end:
        raise BadDateRange(
            f"from ({start}) is after to ({end})", errors=[{"field": "from", "message": "after to"}]
        )
    if start < programme.starts_on or end > programme.ends_on:
        raise BadDateRange(
            f"the range must lie within the programme period {programme.starts_on}..{programme.ends_on}",
            errors=[
                {"field": "from" if start < programme.starts_on else "to", "message": "outside programme"}
            ],
        )
    rng = DateRange(start, end)
    if max_days is not None and rng.days > max_days:
        raise RangeTooLong(
            f"at most {max_days} days at a time ({rng.days} asked); give from and to",
            errors=[{"field": "to", "message": f"more than {max_days} days after from"}],
        )
    return rng


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _month_expr():
    if db.engine.dialect.name == "postgresql":
        return func.to_char(AidRollup.day, "YYYY-MM")
    return func.strftime("%Y-%m", AidRollup.day)


def _months(rng: DateRange) -> list[str]:
    out, y, m = [], rng.start.year, rng.start.month
    while (y, m) <= (rng.end.year, rng.end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


class _Sums:
    __slots__ = ("qualifying", "total")

    def __init__(self) -> None:
        self.total = 0
        self.qualifying = 0

    def add(self, amount: int, qualifying: bool) -> None:
        self.total += amount
        if qualifying:
            self.qualifying += amount


def _items(sums: dict, names: dict, extra: dict | None = None, *, by_key: bool = False) -> list[dict]:
    rows = []
    for key, s in sums.items():
        name_zh, name_en = names.get(key, (str(key), str(key)))
        item = {
            "key": key,
            "name": name_zh,
            "name_en": name_en,
            "total_fen": s.total,
            "qualifying_fen": s.qualifying,
        }
        item.update((extra or {}).get(key, {}))
        rows.append(item)
    if by_key:
        return sorted(rows, key=lambda r: r["key"])
    return sorted(rows, key=lambda r: (-r["total_fen"], str(r["key"])))


def _keyed_by_code(items: list[dict]) -> list[dict]:
    for item in items:
        item["key"] = item.pop("code")
    return items


# The rollup dimensions the totals are read along: all but the programme and the day (the range), and
# the breakdown each one feeds.
RANGE_DIMS = tuple(d for d in ROLLUP_DIMS if d not in ("programme_id", "day"))
BREAKDOWNS = {
    "channel": "channel",
    "category": "category_id",
    "producer": "producer_id",
    "township": "township",
    "location": "location_id",
}


@dataclass
class _Figures:
    """What the officer totals are built from, whichever table they were read from."""

    total: int = 0
    qualifying: int = 0
    direct: int = 0
    helped: int = 0
    dims: dict[str, dict] = field(default_factory=lambda: {k: defaultdict(_Sums) for k in BREAKDOWNS})
    by_product: dict = field(default_factory=lambda: defaultdict(_Sums))
    by_month: dict[str, _Sums] = field(default_factory=dict)

    def add_overall(self, amount: int, qual: bool, direct: bool) -> None:
        self.total += amount
        if qual:
            self.qualifying += amount
            if direct:
                self.direct += amount
            else:
                self.helped += amount


def _from_summaries(programme: AidProgramme, rng: DateRange) -> _Figures:
    """Read the per-dimension summaries (whole months at month grain, partial months at day grain) and
    the entries not folded yet, in one statement: the rows read follow the catalogue and the months in
    the range, not the number of sales."""
    fig = _Figures(by_month={m: _Sums() for m in _months(rng)})
    for dim, key, month, qual, direct, amount in summaries.read_totals(programme.id, rng.start, rng.end):
        amount = int(amount or 0)
        if dim == "all":
            fig.add_overall(amount, qual, direct)
            fig.by_month.setdefault(month, _Sums()).add(amount, qual)
        elif dim == "product":
            fig.by_product[int(key)].add(amount, qual)
        else:
            fig.dims[dim][summaries.int_key(dim)(key)].add(amount, qual)
    return fig


def _from_rollups(programme: AidProgramme, rng: DateRange) -> _Figures:
    """Read every day-grain rollup row of the range (what the totals did before the summaries; kept to
    check them against)."""
    r = AidRollup
    where = (r.programme_id == programme.id, r.day >= rng.start, r.day <= rng.end)
    cols = [getattr(r, d) for d in RANGE_DIMS]
    rows = db.session.execute(select(*cols, func.sum(r.amount_fen)).where(*where).group_by(*cols)).all()
    month = _month_expr()
    month_rows = db.session.execute(
        select(month, r.qualifying, func.sum(r.amount_fen)).where(*where).group_by(month, r.qualifying)
    ).all()
    fig = _Figures(by_month={m: _Sums() for m in _months(rng)})
    at = {d: i for i, d in enumerate(RANGE_DIMS)}
    feeds = [(fig.dims[name], at[dim]) for name, dim in BREAKDOWNS.items()] + [
        (fig.by_product, at["product_id"])
    ]
    for row in rows:
        amount, qual = int(row[-1] or 0), row[at["qualifying"]]
        fig.add_overall(amount, qual, row[at["direct_purchase"]])
        for sums, i in feeds:
            sums[row[i]].add(amount, qual)
    for m, qual, amount in month_rows:
        fig.by_month.setdefault(m, _Sums()).add(int(amount or 0), qual)
    return fig


def programme_totals(programme: AidProgramme, rng: DateRange, *, source: str = "summaries") -> dict:
    """Return the officer totals of ``programme`` between ``rng.start`` and ``rng.end`` (inclusive).

    Read from the per-dimension summaries plus the entries not folded yet (``source="summaries"``);
    ``source="rollups"`` reads the day-grain rollups instead, to the same answer (the tests compare).
    """
    fig = (_from_summaries if source == "summaries" else _from_rollups)(programme, rng)
    total, qualifying, direct, helped = fig.total, fig.qualifying, fig.direct, fig.helped
    dims, by_product, by_month = fig.dims, fig.by_product, fig.by_month

    categories = {
        c.id: c for c in db.session.scalars(select(Category).where(Category.id.in_(list(dims["category"]))))
    }
    producers = {
        p.id: p for p in db.session.scalars(select(Producer).where(Producer.id.in_(list(dims["producer"]))))
    }
    locations = {
        loc.id: loc
        for loc in db.session.scalars(select(Location).where(Location.id.in_(list(dims["location"]))))
    }
    reached = [pid for pid, s in dims["producer"].items() if s.qualifying > 0]
    township_en = {p.township: p.township_en or p.township for p in producers.values()}

    by_location = _items(
        dims["location"],
        {i: (loc.name_zh, loc.name_en) for i, loc in locations.items()} | {0: NO_LOCATION},
        {i: {"code": loc.code, "kind": loc.kind} for i, loc in locations.items()}
        | {0: {"code": None, "kind": None}},
    )
    _keyed_by_code(by_location)
    by_producer = _items(
        dims["producer"],
        {i: (p.name_zh, p.name_en) for i, p in producers.items()},
        {
            i: {"township": p.township, "linked_households": p.linked_households, "code": p.code}
            for i, p in producers.items()
        },
    )
    return {
        "programme": {"code": programme.code, "name": programme.name_zh, "name_en": programme.name_en},
        "from": rng.start,
        "to": rng.end,
        "currency": "CNY",
        "target_fen": programme.target_fen,
        "total_fen": total,
        "qualifying_fen": qualifying,
        "non_qualifying_fen": total - qualifying,
        "progress": _ratio(qualifying, programme.target_fen),
        "direct_purchase_fen": direct,
        "helped_sales_fen": helped,
        "by_channel": _items(dims["channel"], CHANNEL_NAMES),
        "by_category": _keyed_by_code(
            _items(
                dims["category"],
                {i: (c.name_zh, c.name_en) for i, c in categories.items()},
                {i: {"code": c.code} for i, c in categories.items()},
            )
        ),
        "by_producer": by_producer,
        "by_township": _items(dims["township"], {t: (t, township_en.get(t, t)) for t in dims["township"]}),
        "by_location": by_location,
        "by_month": _items(by_month, {m: (m, m) for m in by_month}, by_key=True),
        "by_platform": platform_totals(programme, rng),
        "by_fair": fair_totals(by_location, locations),
        # Charity sales of one-off items: the goods part is in by_channel "charity"; donations apart.
        "charity": charity_totals(programme.id, rng.start, rng.end),
        "producers_reached": len(reached),
        "products_reached": sum(1 for s in by_product.values() if s.qualifying > 0),
        # Each producer's registered figure, counted once however many sales it had.
        "households_linked": sum(producers[pid].linked_households for pid in reached),
        "targets": _target_progress(
            programme, dims["channel"], dims["location"], locations, dims["township"]
        ),
        **card_balances(rng),
        "as_of": clock.now(),
    }


def platform_totals(programme: AidProgramme, rng: DateRange) -> list[dict]:
    """Partner-platform sales of the programme in the range, per platform (from the ledger's
    ``(programme, platform)`` index: only partner-platform entries carry a platform)."""
    e = AidEntry
    rows = db.session.execute(
        select(e.platform_id, e.qualifying, func.sum(e.amount_fen))
        .where(
            e.programme_id == programme.id,
            e.platform_id.is_not(None),
            e.day >= rng.start,
            e.day <= rng.end,
        )
        .group_by(e.platform_id, e.qualifying)
    ).all()
    sums: dict[int, _Sums] = defaultdict(_Sums)
    for platform_id, qual, amount in rows:
        sums[platform_id].add(int(amount or 0), qual)
    platforms = {
        p.id: p for p in db.session.scalars(select(PartnerPlatform).where(PartnerPlatform.id.in_(list(sums))))
    }
    counts = dict(
        db.session.execute(
            select(AidImport.platform_id, func.count())
            .where(
                AidImport.platform_id.in_(list(sums)), AidImport.accepted > 0, AidImport.voided_at.is_(None)
            )
            .group_by(AidImport.platform_id)
        ).all()
    )
    items = _items(
        {platforms[i].code: s for i, s in sums.items()},
        {p.code: (p.name_zh, p.name_en or p.name_zh) for p in platforms.values()},
        {p.code: {"imports": int(counts.get(i, 0))} for i, p in platforms.items()},
    )
    return items


def fair_totals(by_location: list[dict], locations: dict) -> list[dict]:
    """The trade-fair booths' figures (their counter sales during the fair), with the fair's dates."""
    by_code = {loc.code: loc for loc in locations.values()}
    out = []
    for item in by_location:
        loc = by_code.get(item["key"])
        if loc is not None and loc.kind == "fair":
            out.append({**item, "active_from": loc.active_from, "active_until": loc.active_until})
    return out


def card_balances(rng: DateRange) -> dict:
    """Pickup-card value issued in the range and not redeemed yet, reported apart from the aid totals.

    Cards count toward aid only when they pay for goods (as their unit's purchase), never when issued:
    ``unredeemed_card_fen`` is what the cards issued in the range still hold and may still buy,
    ``expired_card_fen`` what expired cards held when they lapsed (it will never be counted).
    """
    start, end = clock.day_range(rng.start, rng.end)
    today = clock.today()
    live = func.sum(case((PickupCard.expires_on >= today, PickupCard.balance_fen), else_=0))
    dead = func.sum(case((PickupCard.expires_on < today, PickupCard.balance_fen), else_=0))
    row = db.session.execute(
        select(func.coalesce(func.sum(PickupCard.value_fen), 0), live, dead)
        .join(PickupCardBatch, PickupCardBatch.id == PickupCard.batch_id)
        .where(
            PickupCard.active.is_(True), PickupCardBatch.issued_at >= start, PickupCardBatch.issued_at < end
        )
    ).one()
    return {
        "card_issued_fen": int(row[0] or 0),
        "unredeemed_card_fen": int(row[1] or 0),
        "expired_card_fen": int(row[2] or 0),
    }


def _target_progress(
    programme: AidProgramme, by_channel: dict, by_location: dict, locations: dict, by_township: dict
) -> list[dict]:
    out = []
    for t in programme.targets:
        if t.channel is not None:
            counted = by_channel[t.channel].qualifying if t.channel in by_channel else 0
            name_zh, name_en = CHANNEL_NAMES[t.channel]
            out.append({"kind": "channel", "key": t.channel, "name": name_zh, "name_en": name_en})
        elif t.township is not None:
            counted = by_township[t.township].qualifying if t.township in by_township else 0
            found = find_township(t.township)
            out.append(
                {
                    "kind": "township",
                    "key": t.township,
                    "name": t.township,
                    "name_en": found[1] if found else "",
                }
            )
        else:
            counted = by_location[t.location_id].qualifying if t.location_id in by_location else 0
            loc = locations.get(t.location_id) or db.session.get(Location, t.location_id)
            out.append({"kind": "location", "key": loc.code, "name": loc.name_zh, "name_en": loc.name_en})
        out[-1].update(
            target_fen=t.target_fen, qualifying_fen=counted, progress=_ratio(counted, t.target_fen)
        )
    return out


def compute_progress(programme: AidProgramme) -> dict:
    """The public figures: counted (qualifying) total and progress, nothing about buyers or producers."""
    total = int(
        db.session.scalar(
            select(func.coalesce(func.sum(AidRollup.amount_fen), 0)).where(
                AidRollup.programme_id == programme.id, AidRollup.qualifying.is_(True)
            )
        )
        or 0
    )
    return {
        "code": programme.code,
        "name": programme.name_zh,
        "name_en": programme.name_en,
        "starts_on": programme.starts_on.isoformat(),
        "ends_on": programme.ends_on.isoformat(),
        "target_fen": programme.target_fen,
        "total_fen": total,
        "currency": "CNY",
        "progress": _ratio(total, programme.target_fen),
        "as_of": clock.now().isoformat(timespec="seconds"),
    }


def public_progress(programme: AidProgramme) -> dict:
    """``compute_progress``, cached like the storefront banner."""
    return cache.cached(cache.PROGRESS_KEY.format(id=programme.id), lambda: compute_progress(programme))


def work_unit_totals(
    programme: AidProgramme, rng: DateRange, *, page: int, per_page: int
) -> tuple[list[dict], int]:
    """Registered work units with their direct purchases in the range, the biggest buyers first."""
    e = AidEntry
    direct = func.sum(case((e.direct_purchase.is_(True), e.amount_fen), else_=0))
    agg = (
        select(
            e.buyer_id.label("buyer_id"),
            direct.label("direct_fen"),
            func.sum(
                case((e.direct_purchase.is_(True) & e.qualifying.is_(True), e.amount_fen), else_=0)
            ).label("qualifying_fen"),
            func.count(func.distinct(case((e.reverses_id.is_(None), e.source)))).label("purchases"),
            func.max(e.day).label("last_day"),
        )
        .where(e.programme_id == programme.id, e.buyer_id.is_not(None), e.day >= rng.start, e.day <= rng.end)
        .group_by(e.buyer_id)
        .subquery()
    )
    # Units are listed by their registering account (the id their purchases are counted under), not
    # every login of a unit.
    base = select(User).join(WorkUnit, WorkUnit.account_id == User.id)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.execute(
        select(User, agg.c.direct_fen, agg.c.qualifying_fen, agg.c.purchases, agg.c.last_day)
        .join(WorkUnit, WorkUnit.account_id == User.id)
        .outerjoin(agg, agg.c.buyer_id == User.id)
        .order_by(func.coalesce(agg.c.direct_fen, 0).desc(), User.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [
        {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "invoice_title": user.invoice_title,
            "tax_id": user.tax_id,
            "direct_purchase_fen": int(direct_fen or 0),
            "qualifying_fen": int(qual_fen or 0),
            "purchases": int(purchases or 0),
            "last_purchase_on": last_day,
            "currency": "CNY",
        }
        for user, direct_fen, qual_fen, purchases, last_day in rows
    ]
    return items, total


def recent_runs(limit: int = 10) -> list[AidReconciliationRun]:
    """The latest reconciliation runs, newest first."""
    return list(
        db.session.scalars(
            select(AidReconciliationRun)
            .order_by(AidReconciliationRun.started_at.desc(), AidReconciliationRun.id.desc())
            .limit(limit)
        )
    )
