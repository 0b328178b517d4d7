"""aid totals that do not grow with sales: per-dimension summaries, pending entries and their trigger

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 19:45:00

The summaries are filled from the rollups already there (so every existing entry counts as folded) and
``aid_unfolded`` starts empty; from then on the trigger on ``aid_entry`` lists each new entry there.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

DIMS = {
    "all": None,
    "channel": "channel",
    "category": "category_id",
    "product": "product_id",
    "producer": "producer_id",
    "township": "township",
    "location": "location_id",
}
TEXT_KEYS = ("channel", "township")

PG_TRIGGER = [
    """
    CREATE FUNCTION aid_entry_unfolded() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO aid_unfolded (entry_id) SELECT id FROM new_entries WHERE programme_id IS NOT NULL;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER aid_entry_unfolded AFTER INSERT ON aid_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION aid_entry_unfolded()
    """,
]
SQLITE_TRIGGER = [
    """
    CREATE TRIGGER aid_entry_unfolded AFTER INSERT ON aid_entry WHEN NEW.programme_id IS NOT NULL
    BEGIN
        INSERT INTO aid_unfolded (entry_id) VALUES (NEW.id);
    END
    """
]


def _backfill(dialect: str) -> str:
    month = (
        "CAST(date_trunc('month', CAST(day AS timestamp)) AS date)"
        if dialect == "postgresql"
        else "date(day, 'start of month')"
    )
    branches = []
    for grain, period in (("month", month), ("day", "day")):
        for dim, col in DIMS.items():
            if col is None:
                key, group = "''", ""
            elif dim in TEXT_KEYS:
                key, group = col, f", {col}"
            else:
                key, group = f"CAST({col} AS VARCHAR)", f", {col}"
            branches.append(
                f"SELECT programme_id, '{grain}', {period}, '{dim}', {key}, qualifying, direct_purchase,"
                f" sum(amount_fen), sum(quantity), sum(entries) FROM aid_rollup"
                f" GROUP BY programme_id, {period}{group}, qualifying, direct_purchase"
            )
    return (
        "INSERT INTO aid_summary (programme_id, grain, period, dimension, key, qualifying, direct_purchase,"
        " amount_fen, quantity, entries) " + " UNION ALL ".join(branches)
    )


def upgrade():
    op.create_table('aid_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('grain', sa.String(length=5), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('dimension', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('qualifying', sa.Boolean(), nullable=False),
    sa.Column('direct_purchase', sa.Boolean(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("dimension IN ('all','channel','category','product','producer','township','location')", name=op.f('ck_aid_summary_dimension_known')),
    sa.CheckConstraint("grain IN ('month','day')", name=op.f('ck_aid_summary_grain_known')),
    sa.ForeignKeyConstraint(['programme_id'], ['aid_programme.id'], name=op.f('fk_aid_summary_programme_id_aid_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_summary')),
    sa.UniqueConstraint('programme_id', 'grain', 'period', 'dimension', 'key', 'qualifying', 'direct_purchase', name='uq_aid_summary_key')
    )
    op.create_table('aid_unfolded',
    sa.Column('entry_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_aid_unfolded'))
    )
    dialect = op.get_bind().dialect.name
    op.execute(_backfill(dialect))
    for stmt in PG_TRIGGER if dialect == "postgresql" else SQLITE_TRIGGER:
        op.execute(stmt)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS aid_entry_unfolded ON aid_entry")
        op.execute("DROP FUNCTION IF EXISTS aid_entry_unfolded()")
    else:
        op.execute("DROP TRIGGER IF EXISTS aid_entry_unfolded")
    op.drop_table('aid_unfolded')
    op.drop_table('aid_summary')
