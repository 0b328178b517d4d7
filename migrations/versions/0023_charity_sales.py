"""charity sales (义卖): one-off items with a donated part, channel charity in the ledger

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-04 17:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

OLD_CHANNELS = "channel IN ('online','hall','fair','subscription','charity_sale','work_unit','partner_platform')"
NEW_CHANNELS = (
    "channel IN ('online','hall','fair','subscription','charity_sale','work_unit','partner_platform','charity')"
)


def upgrade():
    op.create_table('aid_charity_sale',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('buyer', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('donated_fen', sa.BigInteger(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('sold_on', sa.Date(), nullable=False),
    sa.Column('evidence_kind', sa.String(length=20), nullable=False),
    sa.Column('evidence_number', sa.String(length=80), nullable=False),
    sa.Column('evidence_key', sa.String(length=80), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.Column('voided_by_id', sa.Integer(), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('pending','approved','rejected','voided')", name=op.f('ck_aid_charity_sale_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_aid_charity_sale_amount_positive')),
    sa.CheckConstraint('donated_fen >= 0 AND donated_fen <= amount_fen', name=op.f('ck_aid_charity_sale_donation_within_amount')),
    sa.CheckConstraint('decided_by_id IS NULL OR decided_by_id <> recorded_by_id', name=op.f('ck_aid_charity_sale_four_eyes')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_aid_charity_sale_producer_id_producer')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_aid_charity_sale_recorded_by_id_user_account')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_aid_charity_sale_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['voided_by_id'], ['user_account.id'], name=op.f('fk_aid_charity_sale_voided_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_charity_sale')),
    )
    op.create_index('uq_aid_charity_live_evidence', 'aid_charity_sale', ['evidence_key'], unique=True,
                    postgresql_where=sa.text("status IN ('pending','approved')"),
                    sqlite_where=sa.text("status IN ('pending','approved')"))
    op.create_index('ix_aid_charity_status', 'aid_charity_sale', ['status', 'id'], unique=False)
    op.create_index('ix_aid_charity_sold_on', 'aid_charity_sale', ['sold_on'], unique=False)
    with op.batch_alter_table('aid_entry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_aid_entry_channel_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_aid_entry_channel_known'), NEW_CHANNELS)


def downgrade():
    with op.batch_alter_table('aid_entry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_aid_entry_channel_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_aid_entry_channel_known'), OLD_CHANNELS)
    op.drop_index('ix_aid_charity_sold_on', table_name='aid_charity_sale')
    op.drop_index('ix_aid_charity_status', table_name='aid_charity_sale')
    op.drop_index('uq_aid_charity_live_evidence', table_name='aid_charity_sale')
    op.drop_table('aid_charity_sale')
