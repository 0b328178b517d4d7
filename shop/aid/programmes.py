"""Aid programmes: the reporting periods with a target, and optional targets per channel, per hall and per
Gangu township.

A sale is counted toward the programme whose period contains its local day, so periods never overlap,
and a programme's period cannot change once created (entries already counted would land in the wrong
programme). Names, the target and the sub-targets can change at any time.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, text

from shop.accounts.models import User
from shop.aid import cache
from shop.aid.errors import BadTarget, ProgrammeExists, ProgrammeNotFound, ProgrammeOverlap
from shop.aid.models import CHANNELS, AidProgramme, AidTarget
from shop.audit.services import record as audit
from shop.catalog.models import Location
from shop.catalog.townships import find_township
from shop.core.db import after_commit, db

MAX_TARGET_FEN = 10**15  # ten trillion yuan: anything larger is a typo


def list_programmes() -> list[AidProgramme]:
    """Return every programme, the latest period first."""
    return list(db.session.scalars(select(AidProgramme).order_by(AidProgramme.starts_on.desc())))


def get_programme(code: str) -> AidProgramme:
    """Return the programme with this code, or raise 404."""
    prog = db.session.scalar(select(AidProgramme).where(AidProgramme.code == code))
    if prog is None:
        raise ProgrammeNotFound(f"no aid programme {code!r}")
    return prog


def _check_target(value: int, field: str) -> None:
    if not 0 < value <= MAX_TARGET_FEN:
        raise BadTarget(
            f"{field} must be a positive amount in fen", errors=[{"field": field, "message": "out of range"}]
        )


def _merge_targets(prog: AidProgramme, wanted: dict, key: str) -> None:
    """Make ``prog``'s targets of one kind (``channel`` or ``location_id``) exactly ``wanted``.

    Rows are updated in place, not deleted and re-inserted: the flush would insert the new row before
    deleting the old one and trip the unique key.
    """
    current = {getattr(t, key): t for t in prog.targets if getattr(t, key) is not None}
    for dim, value in wanted.items():
        if dim in current:
            current[dim].target_fen = value
        else:
            prog.targets.append(AidTarget(**{key: dim, "target_fen": value}))
    for dim, target in current.items():
        if dim not in wanted:
            prog.targets.remove(target)


def _set_targets(
    prog: AidProgramme,
    channel_targets: dict[str, int] | None,
    location_targets: dict[str, int] | None,
    township_targets: dict[str, int] | None = None,
) -> None:
    """Replace the channel, hall and/or township sub-targets given (``None`` leaves that kind unchanged)."""
    if channel_targets is not None:
        for channel, value in channel_targets.items():
            if channel not in CHANNELS:
                raise BadTarget(
                    f"unknown channel {channel!r}",
                    errors=[{"field": f"channel_targets.{channel}", "message": "unknown channel"}],
                )
            _check_target(value, f"channel_targets.{channel}")
        _merge_targets(prog, channel_targets, "channel")
    if location_targets is not None:
        by_id = {}
        for code, value in location_targets.items():
            loc = db.session.scalar(select(Location).where(Location.code == code))
            if loc is None:
                raise BadTarget(
                    f"unknown location {code!r}",
                    errors=[{"field": f"location_targets.{code}", "message": "unknown location"}],
                )
            _check_target(value, f"location_targets.{code}")
            by_id[loc.id] = value
        _merge_targets(prog, by_id, "location_id")
    if township_targets is not None:
        by_name = {}
        for name, value in township_targets.items():
            found = find_township(name)
            if found is None:
                raise BadTarget(
                    f"unknown township {name!r}",
                    errors=[
                        {"field": f"township_targets.{name}", "message": "not a township of Gangu County"}
                    ],
                )
            _check_target(value, f"township_targets.{name}")
            by_name[found[0]] = value
        _merge_targets(prog, by_name, "township")
    db.session.flush()


def _forget_cached(programme_id: int) -> None:
    after_commit(lambda: cache.invalidate_progress([programme_id]))


def create_programme(
    *,
    code: str,
    name_zh: str,
    name_en: str,
    starts_on: date,
    ends_on: date,
    target_fen: int,
    channel_targets: dict[str, int] | None = None,
    location_targets: dict[str, int] | None = None,
    township_targets: dict[str, int] | None = None,
    note: str = "",
    actor: User | None = None,
) -> AidProgramme:
    """Create a programme; refuse a used code or a period that overlaps another programme's."""
    if ends_on < starts_on:
        raise BadTarget(
            "ends_on is before starts_on", errors=[{"field": "ends_on", "message": "before start"}]
        )
    _check_target(target_fen, "target_fen")
    if db.engine.dialect.name == "postgresql":
        # Two admins creating overlapping programmes at once must not both pass the overlap check.
        db.session.execute(text("LOCK TABLE aid_programme IN SHARE ROW EXCLUSIVE MODE"))
    if db.session.scalar(select(AidProgramme.id).where(AidProgramme.code == code)):
        raise ProgrammeExists(
            f"programme {code!r} already exists", errors=[{"field": "code", "message": "already taken"}]
        )
    other = db.session.scalar(
        select(AidProgramme).where(AidProgramme.starts_on <= ends_on, AidProgramme.ends_on >= starts_on)
    )
    if other is not None:
        raise ProgrammeOverlap(
            f"the period overlaps programme {other.code} ({other.starts_on}..{other.ends_on}); "
            "every sale must belong to exactly one programme",
            errors=[{"field": "starts_on", "message": "overlaps another programme"}],
        )
    prog = AidProgramme(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        starts_on=starts_on,
        ends_on=ends_on,
        target_fen=target_fen,
        note=note,
    )
    db.session.add(prog)
    db.session.flush()
    _set_targets(prog, channel_targets, location_targets, township_targets)
    _forget_cached(prog.id)
    audit(actor, "aid.programme_created", target_type="aid_programme", target_id=code, target_fen=target_fen)
    return prog


def update_programme(
    code: str,
    *,
    name_zh: str | None = None,
    name_en: str | None = None,
    target_fen: int | None = None,
    channel_targets: dict[str, int] | None = None,
    location_targets: dict[str, int] | None = None,
    township_targets: dict[str, int] | None = None,
    note: str | None = None,
    actor: User | None = None,
) -> AidProgramme:
    """Change a programme's names, target, note or sub-targets (its period is fixed once created)."""
    prog = get_programme(code)
    if name_zh is not None:
        prog.name_zh = name_zh
    if name_en is not None:
        prog.name_en = name_en
    if target_fen is not None:
        _check_target(target_fen, "target_fen")
        prog.target_fen = target_fen
    if note is not None:
        prog.note = note
    _set_targets(prog, channel_targets, location_targets, township_targets)
    _forget_cached(prog.id)
    audit(
        actor,
        "aid.programme_updated",
        target_type="aid_programme",
        target_id=code,
        target_fen=prog.target_fen,
        channel_targets=channel_targets,
        location_targets=location_targets,
        township_targets=township_targets,
    )
    return prog
