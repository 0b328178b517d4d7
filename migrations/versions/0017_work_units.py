"""work units: unit accounts with verification history, quotas, account ledger, invoices, bulk orders,
pickup cards; counter sales paid with a pickup card

Existing accounts registered as work units get a unit row, pending verification: until an officer
verifies them their orders count as helped sales (issue 13, item 8).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 19:24:59.039403

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('work_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('unit_type', sa.String(length=20), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('credit_code', sa.String(length=30), nullable=False),
    sa.Column('contact_name', sa.String(length=60), nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=False),
    sa.Column('verification', sa.String(length=10), nullable=False),
    sa.Column('verification_note', sa.Text(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("unit_type IN ('budget_unit','state_owned','trade_union','private_company','other')", name=op.f('ck_work_unit_type_known')),
    sa.CheckConstraint("verification IN ('pending','verified','rejected')", name=op.f('ck_work_unit_verification_known')),
    sa.CheckConstraint('payment_terms_days >= 0 AND payment_terms_days <= 365', name=op.f('ck_work_unit_terms_range')),
    sa.ForeignKeyConstraint(['account_id'], ['user_account.id'], name=op.f('fk_work_unit_account_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_unit')),
    sa.UniqueConstraint('account_id', name=op.f('uq_work_unit_account_id'))
    )
    with op.batch_alter_table('work_unit', schema=None) as batch_op:
        batch_op.create_index('ix_work_unit_credit_code', ['credit_code'], unique=False)

    op.create_table('bulk_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['user_account.id'], name=op.f('fk_bulk_order_buyer_id_user_account')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_bulk_order_unit_id_work_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_order'))
    )
    with op.batch_alter_table('bulk_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_order_unit_id'), ['unit_id'], unique=False)

    op.create_table('invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('tax_id', sa.String(length=30), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('bank_name', sa.String(length=120), nullable=False),
    sa.Column('bank_account', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('pdf_name', sa.String(length=120), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('red_letter_number', sa.String(length=40), nullable=False),
    sa.Column('red_letter_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('normal','special')", name=op.f('ck_invoice_kind_known')),
    sa.CheckConstraint("status IN ('requested','issued')", name=op.f('ck_invoice_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_invoice_amount_positive')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user_account.id'], name=op.f('fk_invoice_issued_by_id_user_account')),
    sa.ForeignKeyConstraint(['order_id'], ['shop_order.id'], name=op.f('fk_invoice_order_id_shop_order')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_invoice_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice')),
    sa.UniqueConstraint('order_id', name=op.f('uq_invoice_order_id'))
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_status', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_user_id'), ['user_id'], unique=False)

    op.create_table('pickup_card_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('value_fen', sa.Integer(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('request_key', sa.String(length=200), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('count > 0', name=op.f('ck_pickup_card_batch_count_positive')),
    sa.CheckConstraint('value_fen > 0', name=op.f('ck_pickup_card_batch_value_positive')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user_account.id'], name=op.f('fk_pickup_card_batch_issued_by_id_user_account')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_pickup_card_batch_unit_id_work_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_card_batch')),
    sa.UniqueConstraint('issued_by_id', 'request_key', name=op.f('uq_pickup_card_batch_issued_by_id_request_key'))
    )
    with op.batch_alter_table('pickup_card_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pickup_card_batch_unit_id'), ['unit_id'], unique=False)

    op.create_table('work_unit_member',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('manager','buyer')", name=op.f('ck_work_unit_member_role_known')),
    sa.ForeignKeyConstraint(['added_by_id'], ['user_account.id'], name=op.f('fk_work_unit_member_added_by_id_user_account')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_work_unit_member_unit_id_work_unit')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_work_unit_member_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_work_unit_member'))
    )
    with op.batch_alter_table('work_unit_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_unit_member_unit_id'), ['unit_id'], unique=False)

    op.create_table('work_unit_quota',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_work_unit_quota_amount_nonneg')),
    sa.CheckConstraint('year >= 2000 AND year <= 2100', name=op.f('ck_work_unit_quota_year_range')),
    sa.ForeignKeyConstraint(['set_by_id'], ['user_account.id'], name=op.f('fk_work_unit_quota_set_by_id_user_account')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_work_unit_quota_unit_id_work_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_unit_quota')),
    sa.UniqueConstraint('unit_id', 'year', name=op.f('uq_work_unit_quota_unit_id_year'))
    )
    op.create_table('work_unit_verification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=10), nullable=True),
    sa.Column('to_state', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_work_unit_verification_actor_id_user_account')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_work_unit_verification_unit_id_work_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_unit_verification'))
    )
    with op.batch_alter_table('work_unit_verification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_unit_verification_unit_id'), ['unit_id'], unique=False)

    op.create_table('bulk_order_item',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('bulk_id', sa.Integer(), nullable=False),
    sa.Column('rows', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['bulk_id'], ['bulk_order.id'], name=op.f('fk_bulk_order_item_bulk_id_bulk_order')),
    sa.ForeignKeyConstraint(['order_id'], ['shop_order.id'], name=op.f('fk_bulk_order_item_order_id_shop_order')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_bulk_order_item'))
    )
    with op.batch_alter_table('bulk_order_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_order_item_bulk_id'), ['bulk_id'], unique=False)

    op.create_table('pickup_card',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=8), nullable=False),
    sa.Column('value_fen', sa.Integer(), nullable=False),
    sa.Column('balance_fen', sa.Integer(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('balance_fen <= value_fen', name=op.f('ck_pickup_card_balance_within_value')),
    sa.CheckConstraint('balance_fen >= 0', name=op.f('ck_pickup_card_balance_nonneg')),
    sa.ForeignKeyConstraint(['batch_id'], ['pickup_card_batch.id'], name=op.f('fk_pickup_card_batch_id_pickup_card_batch')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_pickup_card_unit_id_work_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_card')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_pickup_card_code_hash'))
    )
    with op.batch_alter_table('pickup_card', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pickup_card_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pickup_card_unit_id'), ['unit_id'], unique=False)

    op.create_table('work_unit_account_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('source_key', sa.String(length=80), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('card_batch_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'charge' AND amount_fen > 0) OR (kind <> 'charge' AND amount_fen < 0)", name=op.f('ck_work_unit_account_entry_sign')),
    sa.CheckConstraint("kind IN ('charge','payment','credit')", name=op.f('ck_work_unit_account_entry_kind_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_work_unit_account_entry_actor_id_user_account')),
    sa.ForeignKeyConstraint(['card_batch_id'], ['pickup_card_batch.id'], name=op.f('fk_work_unit_account_entry_card_batch_id_pickup_card_batch')),
    sa.ForeignKeyConstraint(['order_id'], ['shop_order.id'], name=op.f('fk_work_unit_account_entry_order_id_shop_order')),
    sa.ForeignKeyConstraint(['unit_id'], ['work_unit.id'], name=op.f('fk_work_unit_account_entry_unit_id_work_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_unit_account_entry')),
    sa.UniqueConstraint('source_key', name=op.f('uq_work_unit_account_entry_source_key'))
    )
    with op.batch_alter_table('work_unit_account_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_unit_account_entry_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_work_unit_account_entry_unit_day', ['unit_id', 'booked_on'], unique=False)

    op.create_table('pickup_card_redemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('source_key', sa.String(length=80), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('counter_sale_id', sa.Integer(), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'redeem' AND amount_fen > 0) OR (kind = 'restore' AND amount_fen < 0)", name=op.f('ck_pickup_card_redemption_sign')),
    sa.CheckConstraint("kind IN ('redeem','restore')", name=op.f('ck_pickup_card_redemption_kind_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_pickup_card_redemption_actor_id_user_account')),
    sa.ForeignKeyConstraint(['card_id'], ['pickup_card.id'], name=op.f('fk_pickup_card_redemption_card_id_pickup_card')),
    sa.ForeignKeyConstraint(['counter_sale_id'], ['counter_sale.id'], name=op.f('fk_pickup_card_redemption_counter_sale_id_counter_sale')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_pickup_card_redemption_location_id_location')),
    sa.ForeignKeyConstraint(['order_id'], ['shop_order.id'], name=op.f('fk_pickup_card_redemption_order_id_shop_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_card_redemption')),
    sa.UniqueConstraint('source_key', name=op.f('uq_pickup_card_redemption_source_key'))
    )
    with op.batch_alter_table('pickup_card_redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pickup_card_redemption_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pickup_card_redemption_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('counter_sale', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_counter_sale_paid_with_known'), type_='check')
        batch_op.alter_column('paid_with',
               existing_type=sa.VARCHAR(length=10),
               type_=sa.String(length=20),
               existing_nullable=False)
        batch_op.create_check_constraint(
            'paid_with_known', "paid_with IN ('wechat', 'alipay', 'cash', 'card', 'pickup_card')"
        )

    # Accounts that registered as work units before verification existed: a unit each, pending.
    conn = op.get_bind()
    users = conn.execute(
        sa.text(
            "SELECT id, name, invoice_title, tax_id, created_at FROM user_account "
            "WHERE buyer_kind = 'work_unit' ORDER BY id"
        )
    ).all()
    for user_id, name, title, tax_id, created_at in users:
        conn.execute(
            sa.text(
                "INSERT INTO work_unit (account_id, unit_type, legal_name, credit_code, contact_name, "
                "contact_phone, verification, verification_note, payment_terms_days, created_at) "
                "VALUES (:a, 'other', :n, :c, :cn, '', 'pending', '', 30, :t)"
            ),
            {"a": user_id, "n": (title or name)[:200], "c": (tax_id or "")[:30], "cn": (name or "")[:60],
             "t": created_at},
        )
        unit_id = conn.execute(
            sa.text("SELECT id FROM work_unit WHERE account_id = :a"), {"a": user_id}
        ).scalar_one()
        conn.execute(
            sa.text("INSERT INTO work_unit_member (user_id, unit_id, role, added_at) VALUES (:u, :w, 'manager', :t)"),
            {"u": user_id, "w": unit_id, "t": created_at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO work_unit_verification (unit_id, from_state, to_state, note, at) "
                "VALUES (:w, NULL, 'pending', 'registered before units were verified', :t)"
            ),
            {"w": unit_id, "t": created_at},
        )


def downgrade():
    # The older schema has no pickup cards: their counter sales are kept as card sales.
    op.execute("UPDATE counter_sale SET paid_with = 'card' WHERE paid_with = 'pickup_card'")
    with op.batch_alter_table('counter_sale', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_counter_sale_paid_with_known'), type_='check')
        batch_op.alter_column('paid_with',
               existing_type=sa.String(length=20),
               type_=sa.VARCHAR(length=10),
               existing_nullable=False)
        batch_op.create_check_constraint('paid_with_known', "paid_with IN ('wechat', 'alipay', 'cash', 'card')")

    with op.batch_alter_table('pickup_card_redemption', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pickup_card_redemption_order_id'))
        batch_op.drop_index(batch_op.f('ix_pickup_card_redemption_card_id'))

    op.drop_table('pickup_card_redemption')
    with op.batch_alter_table('work_unit_account_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_work_unit_account_entry_unit_day')
        batch_op.drop_index(batch_op.f('ix_work_unit_account_entry_order_id'))

    op.drop_table('work_unit_account_entry')
    with op.batch_alter_table('pickup_card', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pickup_card_unit_id'))
        batch_op.drop_index(batch_op.f('ix_pickup_card_batch_id'))

    op.drop_table('pickup_card')
    with op.batch_alter_table('bulk_order_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_order_item_bulk_id'))

    op.drop_table('bulk_order_item')
    with op.batch_alter_table('work_unit_verification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_unit_verification_unit_id'))

    op.drop_table('work_unit_verification')
    op.drop_table('work_unit_quota')
    with op.batch_alter_table('work_unit_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_unit_member_unit_id'))

    op.drop_table('work_unit_member')
    with op.batch_alter_table('pickup_card_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pickup_card_batch_unit_id'))

    op.drop_table('pickup_card_batch')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_user_id'))
        batch_op.drop_index('ix_invoice_status')

    op.drop_table('invoice')
    with op.batch_alter_table('bulk_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_order_unit_id'))

    op.drop_table('bulk_order')
    with op.batch_alter_table('work_unit', schema=None) as batch_op:
        batch_op.drop_index('ix_work_unit_credit_code')

    op.drop_table('work_unit')
