"""hall counter: the operator's end-of-day sign-off (issue 20)

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('counter_day_signoff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sales_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_counter_day_signoff_location_id_location')),
    sa.ForeignKeyConstraint(['signed_by_id'], ['user_account.id'], name=op.f('fk_counter_day_signoff_signed_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_day_signoff')),
    sa.UniqueConstraint('location_id', 'day', name=op.f('uq_counter_day_signoff_location_id_day'))
    )


def downgrade():
    op.drop_table('counter_day_signoff')
