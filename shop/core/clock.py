"""The shop's one clock: every business date and every time a person reads goes through here.

The shop stores and exchanges instants in UTC (the API writes ISO 8601 with the zone). People in Dongli
and Gangu live in Beijing time, so a stock day, an aid day, a settlement month, a report range, and a
time printed on a page, receipt, export or notice is in the shop's zone: ``SHOP_TIMEZONE``, Asia/Shanghai
by default. Nothing here reads the server's own zone: a server set to UTC (as most are) and one set to
Asia/Shanghai give the same days.

Never call ``date.today()`` or ``datetime.now()`` in the shop; call ``today()`` and ``now()``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"

_zone: ZoneInfo = ZoneInfo(DEFAULT_ZONE)


def configure(zone_name: str) -> None:
    """Set the shop's zone (once per process, from ``Settings.SHOP_TIMEZONE``)."""
    global _zone
    _zone = ZoneInfo(zone_name)


def zone() -> ZoneInfo:
    """The shop's time zone."""
    return _zone


def now() -> datetime:
    """The current instant, aware, in UTC (what the shop stores)."""
    return datetime.now(UTC)


def local_now() -> datetime:
    """The current instant in the shop's zone (what a person reads)."""
    return datetime.now(_zone)


def today() -> date:
    """Today's date in the shop's zone: the business date of anything happening now."""
    return local_now().date()


def aware(moment: datetime) -> datetime:
    """Attach UTC to a naive datetime (SQLite hands stored times back naive; every stored time is UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_local(moment: datetime) -> datetime:
    """``moment`` in the shop's zone."""
    return aware(moment).astimezone(_zone)


def local_day(moment: datetime) -> date:
    """The business date (shop's zone) on which ``moment`` happened."""
    return to_local(moment).date()


def day_start(day: date) -> datetime:
    """The UTC instant at which ``day`` begins in the shop's zone."""
    return datetime.combine(day, time(0), tzinfo=_zone).astimezone(UTC)


def day_range(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """UTC instants ``[start, end)`` covering the local days ``first`` to ``last`` inclusive."""
    return day_start(first), day_start((last or first) + timedelta(days=1))


def at_local(day: date, clock_time: time = time(12)) -> datetime:
    """The UTC instant of ``clock_time`` on local ``day`` (noon by default: safely inside the day)."""
    return datetime.combine(day, clock_time, tzinfo=_zone).astimezone(UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    first = day.replace(day=1)
    return (first + timedelta(days=32)).replace(day=1)


def format_local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``moment`` as a person reads it, in the shop's zone ("" for none)."""
    if moment is None:
        return ""
    return to_local(moment).strftime(fmt)
