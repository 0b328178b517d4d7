"""The hall's end-of-day sign-off: who checked the day's report and count sheet, and what it said then."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db, utcnow


class DaySignOff(db.Model):
    """One signed day at one location: the totals as the operator saw them when signing.

    ``(location_id, day)`` is unique, so a second tap (or two tablets at once) keeps the first
    signature. Sales replayed after the sign-off are shown against these totals, never hidden.
    """

    __tablename__ = "counter_day_signoff"
    __table_args__ = (UniqueConstraint("location_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    day: Mapped[date] = mapped_column(Date)
    sales_count: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
