"""Yearly quotas (预留份额): what a unit reserves for aid products, and how far its purchases got.

A unit's purchases toward its quota are what the aid ledger counted as its direct purchase of certified
products in the calendar year (Beijing time), net of refunds: the ledger entries whose ``buyer_id`` is
the unit and that are ``direct_purchase`` and ``qualifying``. So progress always equals the sum of the
unit's counted orders and card redemptions, and nothing counted while the unit was unverified (helped
sales) is in it. A unit is behind schedule at the end of a quarter when its purchases so far are below
that share of its quota (a quarter of it after Q1, half after Q2...).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO

from sqlalchemy import case, func, select

from shop.accounts.models import User
from shop.aid.models import AidEntry
from shop.audit.services import record
from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.exports import safe_cell
from shop.workunits.errors import InvalidUnitData
from shop.workunits.models import UNIT_TYPE_NAMES, WorkUnit, WorkUnitQuota
from shop.workunits.services import get_unit, lock_unit

SORTS = ("name", "quota", "purchased", "progress", "behind")
QUARTER_NAMES = ("一季度", "二季度", "三季度", "四季度")
VERIFICATION_NAMES = {"pending": "待认证", "verified": "已认证", "rejected": "未通过"}


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise InvalidUnitData(
            "year must be 2000 to 2100", errors=[{"field": "year", "message": "2000..2100"}]
        )


def set_quota(account_id: int, *, year: int, amount_fen: int, actor: User) -> WorkUnitQuota:
    """Set (or change) a unit's reserved amount for ``year``; audited."""
    _check_year(year)
    if amount_fen < 0:
        raise InvalidUnitData(
            "amount_fen must not be negative", errors=[{"field": "amount_fen", "message": ">= 0"}]
        )
    unit = lock_unit(account_id)
    quota = db.session.scalar(
        select(WorkUnitQuota).where(WorkUnitQuota.unit_id == unit.id, WorkUnitQuota.year == year)
    )
    before = quota.amount_fen if quota else None
    if quota is None:
        quota = WorkUnitQuota(unit_id=unit.id, year=year, amount_fen=amount_fen)
        db.session.add(quota)
    quota.amount_fen = amount_fen
    quota.set_by_id = actor.id
    quota.set_at = utcnow()
    db.session.flush()
    record(
        actor, "work_unit.quota", target_type="work_unit", target_id=account_id, year=year,
        before=before, after=amount_fen,
    )  # fmt: skip
    return quota


def _quarter_expr(year: int):
    d = AidEntry.day
    return case((d < date(year, 4, 1), 1), (d < date(year, 7, 1), 2), (d < date(year, 10, 1), 3), else_=4)


def purchased_by_quarter(account_ids: list[int], year: int) -> dict[int, list[int]]:
    """Counted direct purchase of each unit (by its account id) in each quarter of ``year``."""
    if not account_ids:
        return {}
    e = AidEntry
    q = _quarter_expr(year)
    rows = db.session.execute(
        select(e.buyer_id, q, func.sum(e.amount_fen))
        .where(
            e.buyer_id.in_(account_ids),
            e.direct_purchase.is_(True),
            e.qualifying.is_(True),
            e.day >= date(year, 1, 1),
            e.day <= date(year, 12, 31),
        )
        .group_by(e.buyer_id, q)
    ).all()
    out: dict[int, list[int]] = {aid: [0, 0, 0, 0] for aid in account_ids}
    for buyer_id, quarter, amount in rows:
        out[buyer_id][int(quarter) - 1] += int(amount or 0)
    return out


def _completed_quarters(year: int, today: date) -> int:
    if year < today.year:
        return 4
    if year > today.year:
        return 0
    return (today.month - 1) // 3


@dataclass
class Standing:
    """A unit against its quota for one year."""

    unit: WorkUnit
    year: int
    quota_fen: int
    purchased_fen: int
    quarters: list[dict] = field(default_factory=list)

    @property
    def progress(self) -> float:
        return round(self.purchased_fen / self.quota_fen, 4) if self.quota_fen else 0.0

    @property
    def behind(self) -> bool:
        """Behind at the last completed quarter (a unit without a quota never is)."""
        return bool(self.quarters) and self.quarters[-1]["behind"]


def _standing(unit: WorkUnit, year: int, quota_fen: int, by_quarter: list[int], done: int) -> Standing:
    quarters = []
    running = 0
    for q in range(1, done + 1):
        running += by_quarter[q - 1]
        expected = quota_fen * q // 4
        quarters.append(
            {"quarter": q, "expected_fen": expected, "purchased_fen": running, "behind": running < expected}
        )
    return Standing(unit, year, quota_fen, sum(by_quarter), quarters)


def unit_progress(account_id: int, *, year: int) -> Standing:
    """The unit's quota for ``year`` and its counted direct purchase so far."""
    _check_year(year)
    unit = get_unit(account_id)
    quota = db.session.scalar(
        select(WorkUnitQuota.amount_fen).where(WorkUnitQuota.unit_id == unit.id, WorkUnitQuota.year == year)
    )
    by_quarter = purchased_by_quarter([unit.account_id], year)[unit.account_id]
    return _standing(unit, year, int(quota or 0), by_quarter, _completed_quarters(year, clock.today()))


def all_units(*, year: int, sort: str = "progress", descending: bool = False) -> list[Standing]:
    """Every unit against its quota for ``year``, sorted (units are few: hundreds, not millions)."""
    _check_year(year)
    if sort not in SORTS:
        raise InvalidUnitData(
            f"sort must be one of {', '.join(SORTS)}", errors=[{"field": "sort", "message": "unknown"}]
        )
    units = list(db.session.scalars(select(WorkUnit).order_by(WorkUnit.id)))
    quotas = dict(
        db.session.execute(
            select(WorkUnitQuota.unit_id, WorkUnitQuota.amount_fen).where(WorkUnitQuota.year == year)
        ).all()
    )
    bought = purchased_by_quarter([u.account_id for u in units], year)
    done = _completed_quarters(year, clock.today())
    rows = [_standing(u, year, int(quotas.get(u.id, 0)), bought[u.account_id], done) for u in units]
    keys = {
        "name": lambda s: s.unit.legal_name,
        "quota": lambda s: s.quota_fen,
        "purchased": lambda s: s.purchased_fen,
        "progress": lambda s: s.progress,
        "behind": lambda s: s.behind,
    }
    rows.sort(key=lambda s: (keys[sort](s), s.unit.id), reverse=descending)
    return rows


def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def export_xlsx(rows: list[Standing], *, year: int) -> IO[bytes]:
    """The officers' list as XLSX with Chinese headers, behind-schedule flags per completed quarter."""
    # why: openpyxl (about 15 MB) is loaded by the processes that write a workbook, not by all at start
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet(f"{year}年单位预留份额")
    sheet.append(
        [
            "单位名称",
            "统一社会信用代码",
            "单位类型",
            "认证状态",
            "年度预留额度（元）",
            "已采购（元）",
            "完成进度",
            *(f"{name}进度" for name in QUARTER_NAMES),
        ]
    )
    for s in rows:
        flags = []
        for q in range(4):
            if q < len(s.quarters):
                flags.append("落后" if s.quarters[q]["behind"] else "正常")
            else:
                flags.append("—")
        sheet.append(
            [
                safe_cell(s.unit.legal_name),
                safe_cell(s.unit.credit_code),
                UNIT_TYPE_NAMES[s.unit.unit_type][0],
                VERIFICATION_NAMES[s.unit.verification],
                _yuan(s.quota_fen),
                _yuan(s.purchased_fen),
                f"{s.progress * 100:.2f}%",
                *flags,
            ]
        )
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to send_file, which closes it
    wb.save(out)
    out.seek(0)
    return out
