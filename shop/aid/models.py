from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import db


class AidProgramme(db.Model):
    """A reporting period with a consumption-aid target, e.g. Dongli-Gangu 2026, 50 million yuan."""

    __tablename__ = "aid_programme"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("target_fen > 0", name="target_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(160))
    name_en: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    target_fen: Mapped[int] = mapped_column(BigInteger)
