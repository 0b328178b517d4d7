"""harvest pre-orders: campaigns, pledges, per-buyer units; orders get a kind and the "pledged" hold

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-04 16:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shop_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='order', nullable=False))
        batch_op.drop_constraint(batch_op.f('ck_shop_order_reservation_known'), type_='check')
        batch_op.create_check_constraint(
            'reservation_known', "reservation_state IN ('held','released','consumed','pledged')"
        )
        batch_op.create_check_constraint('kind_known', "kind IN ('order','pledge')")

    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_en', sa.String(length=160), nullable=False),
    sa.Column('story', sa.Text(), nullable=False),
    sa.Column('cover_url', sa.String(length=300), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cap_units', sa.Integer(), nullable=False),
    sa.Column('per_buyer_cap', sa.Integer(), nullable=False),
    sa.Column('pledged_units', sa.Integer(), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ships_from', sa.Date(), nullable=False),
    sa.Column('ships_until', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('harvested_units', sa.Integer(), nullable=True),
    sa.Column('allocated_units', sa.Integer(), nullable=False),
    sa.Column('refunded_units', sa.Integer(), nullable=False),
    sa.Column('harvest_lot', sa.String(length=60), nullable=False),
    sa.Column('harvested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft','open','harvested','done')", name=op.f('ck_campaign_status_known')),
    sa.CheckConstraint('price_fen > 0', name=op.f('ck_campaign_price_positive')),
    sa.CheckConstraint('cap_units > 0 AND per_buyer_cap > 0', name=op.f('ck_campaign_caps_positive')),
    sa.CheckConstraint('pledged_units >= 0 AND pledged_units <= cap_units', name=op.f('ck_campaign_within_cap')),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_campaign_window_ordered')),
    sa.CheckConstraint('allocated_units >= 0 AND refunded_units >= 0', name=op.f('ck_campaign_harvest_nonneg')),
    sa.ForeignKeyConstraint(['variant_id'], ['variant.id'], name=op.f('fk_campaign_variant_id_variant')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_campaign_location_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign')),
    sa.UniqueConstraint('code', name=op.f('uq_campaign_code'))
    )
    op.create_table('pledge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_pledge_quantity_positive')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('fill','refund','skip')", name=op.f('ck_pledge_outcome_known')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_pledge_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['order_id'], ['shop_order.id'], name=op.f('fk_pledge_order_id_shop_order')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_pledge_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pledge')),
    sa.UniqueConstraint('order_id', name=op.f('uq_pledge_order_id'))
    )
    op.create_index(op.f('ix_pledge_campaign_id'), 'pledge', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_pledge_user_id'), 'pledge', ['user_id'], unique=False)
    op.create_index('ix_pledge_campaign_outcome', 'pledge', ['campaign_id', 'settled_at', 'seq'], unique=False)
    op.create_table('campaign_buyer',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.CheckConstraint('units >= 0', name=op.f('ck_campaign_buyer_units_nonneg')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_buyer_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_campaign_buyer_user_id_user_account')),
    sa.PrimaryKeyConstraint('campaign_id', 'user_id', name=op.f('pk_campaign_buyer'))
    )


def downgrade():
    op.drop_table('campaign_buyer')
    op.drop_index('ix_pledge_campaign_outcome', table_name='pledge')
    op.drop_index(op.f('ix_pledge_user_id'), table_name='pledge')
    op.drop_index(op.f('ix_pledge_campaign_id'), table_name='pledge')
    op.drop_table('pledge')
    op.drop_table('campaign')
    with op.batch_alter_table('shop_order', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_shop_order_kind_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_shop_order_reservation_known'), type_='check')
        batch_op.create_check_constraint('reservation_known', "reservation_state IN ('held','released','consumed')")
        batch_op.drop_column('kind')
