"""outside sales: partner platforms, their imports and counted lines; channel partner_platform in the ledger

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-04 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0021'
branch_labels = None
depends_on = None

OLD_CHANNELS = "channel IN ('online','hall','fair','subscription','charity_sale','work_unit')"
NEW_CHANNELS = "channel IN ('online','hall','fair','subscription','charity_sale','work_unit','partner_platform')"


def upgrade():
    op.create_table('aid_platform',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=160), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('operator', sa.String(length=200), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('api_key_hash', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_platform')),
    sa.UniqueConstraint('code', name=op.f('uq_aid_platform_code')),
    sa.UniqueConstraint('api_key_hash', name=op.f('uq_aid_platform_api_key_hash')),
    )
    op.create_table('aid_platform_producer',
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['aid_platform.id'], name=op.f('fk_aid_platform_producer_platform_id_aid_platform'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_aid_platform_producer_producer_id_producer')),
    sa.PrimaryKeyConstraint('platform_id', 'producer_id', name=op.f('pk_aid_platform_producer')),
    )
    op.create_table('aid_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('rejected_count', sa.Integer(), nullable=False),
    sa.Column('accepted_fen', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_by_id', sa.Integer(), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('queued','running','done','failed')", name=op.f('ck_aid_import_status_known')),
    sa.CheckConstraint("kind IN ('csv','xlsx','api')", name=op.f('ck_aid_import_kind_known')),
    sa.ForeignKeyConstraint(['platform_id'], ['aid_platform.id'], name=op.f('fk_aid_import_platform_id_aid_platform')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_aid_import_uploaded_by_id_user_account')),
    sa.ForeignKeyConstraint(['voided_by_id'], ['user_account.id'], name=op.f('fk_aid_import_voided_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_import')),
    )
    op.create_index('ix_aid_import_platform', 'aid_import', ['platform_id', 'id'], unique=False)
    op.create_table('aid_import_rejection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['aid_import.id'], name=op.f('fk_aid_import_rejection_import_id_aid_import'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_import_rejection')),
    )
    op.create_index('ix_aid_import_rejection_import', 'aid_import_rejection', ['import_id', 'row'], unique=False)
    op.create_table('aid_partner_sale',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('sold_on', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_aid_partner_sale_quantity_positive')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_aid_partner_sale_amount_positive')),
    sa.ForeignKeyConstraint(['platform_id'], ['aid_platform.id'], name=op.f('fk_aid_partner_sale_platform_id_aid_platform')),
    sa.ForeignKeyConstraint(['import_id'], ['aid_import.id'], name=op.f('fk_aid_partner_sale_import_id_aid_import')),
    sa.ForeignKeyConstraint(['variant_id'], ['variant.id'], name=op.f('fk_aid_partner_sale_variant_id_variant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_partner_sale')),
    )
    op.create_index('ix_aid_partner_sale_import', 'aid_partner_sale', ['import_id'], unique=False)
    op.create_index(
        'uq_aid_partner_sale_live_key', 'aid_partner_sale', ['platform_id', 'platform_order_id', 'line'],
        unique=True, postgresql_where=sa.text('voided = false'), sqlite_where=sa.text('voided = 0'),
    )
    with op.batch_alter_table('aid_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_aid_entry_platform_id_aid_platform'), 'aid_platform', ['platform_id'], ['id'])
        batch_op.create_index('ix_aid_entry_platform', ['programme_id', 'platform_id'], unique=False)
        batch_op.drop_constraint(op.f('ck_aid_entry_channel_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_aid_entry_channel_known'), NEW_CHANNELS)


def downgrade():
    with op.batch_alter_table('aid_entry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_aid_entry_channel_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_aid_entry_channel_known'), OLD_CHANNELS)
        batch_op.drop_index('ix_aid_entry_platform')
        batch_op.drop_constraint(op.f('fk_aid_entry_platform_id_aid_platform'), type_='foreignkey')
        batch_op.drop_column('platform_id')
    op.drop_index('uq_aid_partner_sale_live_key', table_name='aid_partner_sale')
    op.drop_index('ix_aid_partner_sale_import', table_name='aid_partner_sale')
    op.drop_table('aid_partner_sale')
    op.drop_index('ix_aid_import_rejection_import', table_name='aid_import_rejection')
    op.drop_table('aid_import_rejection')
    op.drop_index('ix_aid_import_platform', table_name='aid_import')
    op.drop_table('aid_import')
    op.drop_table('aid_platform_producer')
    op.drop_table('aid_platform')
