"""producers: fee history, settlement runs, statements and their lines, linked households and income

Every producer's current fee_bp becomes the first row of its fee history, in force from the start.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 16:40:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('producer_fee',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('fee_bp', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('fee_bp >= 0 AND fee_bp <= 10000', name=op.f('ck_producer_fee_fee_bp_range')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_producer_fee_producer_id_producer')),
    sa.ForeignKeyConstraint(['set_by_id'], ['user_account.id'], name=op.f('fk_producer_fee_set_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_producer_fee'))
    )
    op.create_index('ix_producer_fee_producer_effective', 'producer_fee', ['producer_id', 'effective_at'])
    op.create_table('settlement_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('trigger', sa.String(length=60), nullable=False),
    sa.Column('cutoff', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lines_added', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_run'))
    )
    op.create_index(op.f('ix_settlement_run_period'), 'settlement_run', ['period'])
    op.create_table('settlement_statement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunds_fen', sa.BigInteger(), nullable=False),
    sa.Column('fee_fen', sa.BigInteger(), nullable=False),
    sa.Column('payable_fen', sa.BigInteger(), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_by_id', sa.Integer(), nullable=True),
    sa.Column('paid_reference', sa.String(length=80), nullable=True),
    sa.CheckConstraint("status IN ('draft','approved','paid')", name=op.f('ck_settlement_statement_status_known')),
    sa.CheckConstraint('gross_fen >= 0 AND refunds_fen >= 0', name=op.f('ck_settlement_statement_parts_nonneg')),
    sa.CheckConstraint('payable_fen = gross_fen - refunds_fen - fee_fen', name=op.f('ck_settlement_statement_payable_adds_up')),
    sa.CheckConstraint("status <> 'paid' OR paid_reference IS NOT NULL", name=op.f('ck_settlement_statement_paid_has_reference')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_settlement_statement_producer_id_producer')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user_account.id'], name=op.f('fk_settlement_statement_approved_by_id_user_account')),
    sa.ForeignKeyConstraint(['paid_by_id'], ['user_account.id'], name=op.f('fk_settlement_statement_paid_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_statement')),
    sa.UniqueConstraint('period', 'producer_id', name=op.f('uq_settlement_statement_period_producer_id'))
    )
    op.create_index(op.f('ix_settlement_statement_producer_id'), 'settlement_statement', ['producer_id'])
    op.create_table('settlement_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('source_key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('order_line_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('counter_line_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=60), nullable=False),
    sa.Column('name_zh', sa.String(length=160), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('fee_bp', sa.Integer(), nullable=False),
    sa.Column('fee_fen', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('sale','refund')", name=op.f('ck_settlement_line_kind_known')),
    sa.CheckConstraint("(kind = 'sale' AND amount_fen >= 0 AND fee_fen >= 0 AND fee_fen <= amount_fen) OR (kind = 'refund' AND amount_fen < 0 AND fee_fen <= 0 AND fee_fen >= amount_fen)", name=op.f('ck_settlement_line_signs')),
    sa.CheckConstraint('fee_bp >= 0 AND fee_bp <= 10000', name=op.f('ck_settlement_line_fee_bp_range')),
    sa.ForeignKeyConstraint(['statement_id'], ['settlement_statement.id'], name=op.f('fk_settlement_line_statement_id_settlement_statement')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_settlement_line_producer_id_producer')),
    sa.ForeignKeyConstraint(['order_id'], ['shop_order.id'], name=op.f('fk_settlement_line_order_id_shop_order')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_settlement_line_order_line_id_order_line')),
    sa.ForeignKeyConstraint(['refund_id'], ['refund.id'], name=op.f('fk_settlement_line_refund_id_refund')),
    sa.ForeignKeyConstraint(['counter_line_id'], ['counter_sale_line.id'], name=op.f('fk_settlement_line_counter_line_id_counter_sale_line')),
    sa.ForeignKeyConstraint(['variant_id'], ['variant.id'], name=op.f('fk_settlement_line_variant_id_variant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_line')),
    sa.UniqueConstraint('source_key', name=op.f('uq_settlement_line_source_key'))
    )
    op.create_index(op.f('ix_settlement_line_statement_id'), 'settlement_line', ['statement_id'])
    op.create_index('ix_settlement_line_order_line', 'settlement_line', ['order_line_id'])
    op.create_index('ix_settlement_line_refund', 'settlement_line', ['refund_id', 'producer_id'])
    op.create_index('ix_settlement_line_counter_line', 'settlement_line', ['counter_line_id'])
    op.create_table('producer_household',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('village', sa.String(length=60), nullable=False),
    sa.Column('township', sa.String(length=60), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('members >= 1 AND members <= 30', name=op.f('ck_producer_household_members_range')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_producer_household_producer_id_producer')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_producer_household_created_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_producer_household')),
    sa.UniqueConstraint('ref', name=op.f('uq_producer_household_ref'))
    )
    op.create_index(op.f('ix_producer_household_producer_id'), 'producer_household', ['producer_id'])
    op.create_table('household_income',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('on_day', sa.Date(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('produce','wage','dividend')", name=op.f('ck_household_income_kind_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_household_income_amount_positive')),
    sa.ForeignKeyConstraint(['household_id'], ['producer_household.id'], name=op.f('fk_household_income_household_id_producer_household')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_household_income_producer_id_producer')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_household_income_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household_income'))
    )
    op.create_index(op.f('ix_household_income_household_id'), 'household_income', ['household_id'])
    op.create_index(op.f('ix_household_income_producer_id'), 'household_income', ['producer_id'])
    op.create_index('ix_household_income_on', 'household_income', ['on_day'])
    # The fee each producer has today becomes its history's first row, in force from the beginning.
    producer = sa.table('producer', sa.column('id', sa.Integer), sa.column('fee_bp', sa.Integer))
    fee = sa.table(
        'producer_fee', sa.column('producer_id', sa.Integer), sa.column('fee_bp', sa.Integer),
        sa.column('effective_from', sa.Date), sa.column('effective_at', sa.DateTime(timezone=True)),
        sa.column('set_at', sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    rows = [
        {'producer_id': pid, 'fee_bp': bp, 'effective_from': start.date(), 'effective_at': start, 'set_at': start}
        for pid, bp in bind.execute(sa.select(producer.c.id, producer.c.fee_bp).where(producer.c.fee_bp > 0))
    ]
    if rows:
        op.bulk_insert(fee, rows)


def downgrade():
    op.drop_table('household_income')
    op.drop_table('producer_household')
    op.drop_table('settlement_line')
    op.drop_table('settlement_statement')
    op.drop_table('settlement_run')
    op.drop_table('producer_fee')
