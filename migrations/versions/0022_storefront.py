"""storefront: a search key per product (names, pinyin, initials, SKUs, producer, township) and the
buyer's address book (several Tianjin addresses, one default)

Revision ID: 0022
Revises: 0017
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0019'
branch_labels = None
depends_on = None


def _pinyin(text):
    from pypinyin import lazy_pinyin

    if not text or all(ord(ch) < 128 for ch in text):
        return []
    syl = [s for s in lazy_pinyin(text, errors="ignore") if s.strip()]
    return ["".join(syl), " ".join(syl), "".join(s[0] for s in syl)] if syl else []


def _backfill(bind):
    """Fill the key of the products already there, as shop.catalog.search.search_key does."""
    rows = bind.execute(sa.text(
        "SELECT p.id, p.name_zh, p.name_en, p.slug, p.origin_mark, pr.name_zh, pr.name_en, pr.township, "
        "pr.township_en, pr.village, pr.legal_name FROM product p JOIN producer pr ON pr.id = p.producer_id"
    )).fetchall()
    for pid, name_zh, name_en, slug, mark, pr_zh, pr_en, town, town_en, village, legal in rows:
        variants = bind.execute(
            sa.text("SELECT name_zh, name_en, sku FROM variant WHERE product_id = :p ORDER BY id"), {"p": pid}
        ).fetchall()
        parts = []
        for text in [name_zh, mark, *[v[0] for v in variants], pr_zh, town, village or ""]:
            if text:
                parts.append(text)
                parts.extend(_pinyin(text))
        parts += [name_en, slug, *[v[1] for v in variants], *[v[2] for v in variants], pr_en, town_en or "", legal or ""]
        key = " | ".join(" ".join(p.lower().split()) for p in parts if p and p.strip())
        bind.execute(sa.text("UPDATE product SET search_key = :k WHERE id = :p"), {"k": key, "p": pid})


def upgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.Text(), nullable=False, server_default=''))
    _backfill(op.get_bind())

    op.create_table('buyer_address',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=30), nullable=False),
    sa.Column('recipient', sa.String(length=60), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('district', sa.String(length=20), nullable=False),
    sa.Column('street_address', sa.String(length=200), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_buyer_address_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyer_address'))
    )
    with op.batch_alter_table('buyer_address', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buyer_address_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('buyer_address', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buyer_address_user_id'))
    op.drop_table('buyer_address')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('search_key')
