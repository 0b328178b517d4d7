"""sessions that end, emailed password links, atomic sign-in throttles, deactivated accounts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 20:00:00.000000

- user_account.active: a deactivated account cannot sign in or use any session or token.
- revoked_token: bearer tokens and web sessions ended by logout, kept until they would have expired.
- login_throttle: sign-in failure counters changed by single atomic statements (replaces the
  read-modify-write user_account.failed_logins / locked_until, which are dropped).
- password_token: hashed, single-use, expiring links to set a password (reset and staff invitation).
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")

    op.create_table(
        "revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_revoked_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_token")),
    )
    with op.batch_alter_table("revoked_token") as batch:
        batch.create_index(batch.f("ix_revoked_token_user_id"), ["user_id"], unique=False)
        batch.create_index(batch.f("ix_revoked_token_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle") as batch:
        batch.create_index(batch.f("ix_login_throttle_window_ends_at"), ["window_ends_at"], unique=False)

    op.create_table(
        "password_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_password_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_token_token_hash")),
    )
    with op.batch_alter_table("password_token") as batch:
        batch.create_index(batch.f("ix_password_token_user_id"), ["user_id"], unique=False)
        batch.create_index(batch.f("ix_password_token_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("password_token") as batch:
        batch.drop_index(batch.f("ix_password_token_expires_at"))
        batch.drop_index(batch.f("ix_password_token_user_id"))
    op.drop_table("password_token")
    with op.batch_alter_table("login_throttle") as batch:
        batch.drop_index(batch.f("ix_login_throttle_window_ends_at"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("revoked_token") as batch:
        batch.drop_index(batch.f("ix_revoked_token_expires_at"))
        batch.drop_index(batch.f("ix_revoked_token_user_id"))
    op.drop_table("revoked_token")
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch.drop_column("active")
