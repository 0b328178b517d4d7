"""The one statement that adds to the aid tables' sums: ``INSERT .. ON CONFLICT (<key>) DO UPDATE SET
<sum> = <table>.<sum> + excluded.<sum>``.

The rollups (``aid_rollup``, added to by every sale, refund and import) and the per-dimension summaries
(``aid_summary``, added to by the fold) keep sums under a unique key; a writer adds its sums to the row of
each key and creates the rows that do not exist yet, in one atomic statement. PostgreSQL and SQLite (the
embedded default) both know it; the writers pass their rows in key order, the order the database takes
the rows' locks in, so every writer takes them in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.core.db import db


def adding_upsert(
    table: Table,
    key: Sequence[str],
    sums: Sequence[str],
    *,
    rows: list[dict[str, Any]] | None = None,
    select: Select | None = None,
):
    """``INSERT INTO table .. ON CONFLICT (key) DO UPDATE`` adding each of ``sums`` to the row there.

    What it inserts: ``rows`` (one multi-row ``VALUES``), or ``select`` (its columns: ``key``, then
    ``sums``), or, with neither, the rows the statement is executed with (executemany).
    """
    pg = db.engine.dialect.name == "postgresql"
    stmt = (pg_insert if pg else sqlite_insert)(table)
    if rows is not None:
        stmt = stmt.values(rows)
    elif select is not None:
        if not pg:
            # SQLite's upsert after INSERT .. SELECT needs a WHERE to tell ON CONFLICT from a join's ON.
            select = select.where(text("true"))
        stmt = stmt.from_select([*key, *sums], select)
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={s: table.c[s] + stmt.excluded[s] for s in sums},
    )
