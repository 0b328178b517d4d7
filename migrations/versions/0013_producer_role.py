"""producer accounts: a user with the producer role is bound to one producer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("producer_id", sa.Integer(), nullable=True))
        batch.create_index("ix_user_account_producer_id", ["producer_id"])
        batch.create_foreign_key("fk_user_account_producer_id_producer", "producer", ["producer_id"], ["id"])


def downgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint("fk_user_account_producer_id_producer", type_="foreignkey")
        batch.drop_index("ix_user_account_producer_id")
        batch.drop_column("producer_id")
