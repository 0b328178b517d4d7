"""one order key in both ledgers: order stock movements move from order:<number> to order:<id>

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 19:00:00.000000

The stock ledger wrote an order's reservation, release and sale movements under ``order:<number>``
while the aid ledger counted the same order under ``order:<id>``. Both now use ``order:<id>``
(``shop.orders.models.order_reference``). The aid ledger already does, so its rows (``source``, and
``source_key`` = source + ``:line:<n>``, unique) stay as they are; only stock movements change.

Only references that name an existing order's number are rewritten: a reference an operator typed
that merely starts with ``order:`` is left alone. Numbers (``YYMMDD-NNNN-NNNC``) contain dashes and ids
do not, so the two forms never collide and running the rewrite again changes nothing. Plain
UPDATEs on PostgreSQL and SQLite (no schema change, so no batch mode is needed).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


# What follows "order:" in a reference.
TAIL = "substr(stock_movement.reference, 7)"


def _rewrite(old: str, new: str) -> None:
    """Rewrite ``order:<old>`` stock references to ``order:<new>``; ``old``/``new`` are ``number``/``id``.

    PostgreSQL joins the orders once (UPDATE ... FROM); SQLite looks each order up through its unique
    number or primary key. Either way a reference that names no order is not touched.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"UPDATE stock_movement AS m SET reference = 'order:' || CAST(o.{new} AS TEXT) FROM shop_order AS o"
            f" WHERE m.reference LIKE 'order:%' AND m.reference = 'order:' || CAST(o.{old} AS TEXT)"
        )
        return
    match = f"o.number = {TAIL}" if old == "number" else f"o.id = CAST({TAIL} AS INTEGER)"
    op.execute(
        f"UPDATE stock_movement SET reference = 'order:' || (SELECT o.{new} FROM shop_order AS o WHERE {match})"
        f" WHERE reference LIKE 'order:%' AND {TAIL} IN (SELECT CAST(o.{old} AS TEXT) FROM shop_order AS o)"
    )


def upgrade():
    _rewrite("number", "id")


def downgrade():
    # Back to the numbers. A reference typed as "order:<id>" by hand would be rewritten too; there is
    # no telling it apart from the shop's own once both use the id.
    _rewrite("id", "number")
