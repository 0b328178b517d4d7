"""Aid programme queries."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from shop.aid.models import AidProgramme
from shop.core.db import db


def current_programme(on: date | None = None) -> AidProgramme | None:
    """Return the programme whose period contains ``on`` (today by default), else the latest one."""
    day = on or date.today()
    prog = db.session.scalar(
        select(AidProgramme)
        .where(AidProgramme.starts_on <= day, AidProgramme.ends_on >= day)
        .order_by(AidProgramme.starts_on.desc())
    )
    return prog or db.session.scalar(select(AidProgramme).order_by(AidProgramme.ends_on.desc()))


def programme_total_fen(programme: AidProgramme) -> int:
    """Qualifying consumption-aid sales counted toward ``programme`` so far, in fen."""
    return 0


def headline() -> dict | None:
    """Return the storefront banner figures for the current programme."""
    prog = current_programme()
    if prog is None:
        return None
    total = programme_total_fen(prog)
    return {
        "code": prog.code,
        "name_zh": prog.name_zh,
        "name_en": prog.name_en,
        "target_fen": prog.target_fen,
        "total_fen": total,
        "percent": round(100 * total / prog.target_fen, 2) if prog.target_fen else 0,
    }
