"""the open messages of one task, for tasks that take several at once (fulfilment batches)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 23:10:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

OPEN = "completed_at IS NULL AND failed_at IS NULL"


def upgrade():
    op.create_index(
        "ix_outbox_waiting",
        "outbox_message",
        ["task", "id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade():
    op.drop_index("ix_outbox_waiting", table_name="outbox_message")
