"""trust and robustness: refund requests, voided hand-overs, workers' heartbeats

- refund_request: a buyer's request for money back, decided by staff (issue #13, item 6);
- pickup_ticket and shipment may be 'cancelled' (an order refunded in full before hand-over, item 4);
- outbox_message.seen_by and worker_heartbeat: the sweep re-sends what a dead worker held (item 14).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TICKET_OLD = "status IN ('ready','handed_over')"
TICKET_NEW = "status IN ('ready','handed_over','cancelled')"
SHIPMENT_OLD = "status IN ('awaiting_dispatch','shipped','delivered')"
SHIPMENT_NEW = "status IN ('awaiting_dispatch','shipped','delivered','cancelled')"


def _recheck(table: str, condition: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(f"ck_{table}_status_known"), type_="check")
        batch.create_check_constraint(op.f(f"ck_{table}_status_known"), condition)


def upgrade():
    _recheck("pickup_ticket", TICKET_NEW)
    _recheck("shipment", SHIPMENT_NEW)

    op.create_table(
        "refund_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "reason IN ('cancel','damaged','wrong_item','other')", name=op.f("ck_refund_request_reason_known")
        ),
        sa.CheckConstraint("status IN ('open','approved','rejected')", name=op.f("ck_refund_request_status_known")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["user_account.id"], name=op.f("fk_refund_request_buyer_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user_account.id"], name=op.f("fk_refund_request_decided_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"], name=op.f("fk_refund_request_location_id_location")),
        sa.ForeignKeyConstraint(["order_id"], ["shop_order.id"], name=op.f("fk_refund_request_order_id_shop_order")),
        sa.ForeignKeyConstraint(["refund_id"], ["refund.id"], name=op.f("fk_refund_request_refund_id_refund")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_request")),
    )
    with op.batch_alter_table("refund_request") as batch:
        batch.create_index(batch.f("ix_refund_request_order_id"), ["order_id"], unique=False)
        batch.create_index(batch.f("ix_refund_request_buyer_id"), ["buyer_id"], unique=False)
        batch.create_index("ix_refund_request_location_status", ["location_id", "status"], unique=False)
        batch.create_index(
            "uq_refund_request_open",
            ["order_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )

    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("seen_by", sa.String(length=200), nullable=True))
    op.create_table(
        "worker_heartbeat",
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hostname", name=op.f("pk_worker_heartbeat")),
    )


def downgrade():
    op.drop_table("worker_heartbeat")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("seen_by")
    with op.batch_alter_table("refund_request") as batch:
        batch.drop_index("uq_refund_request_open")
        batch.drop_index("ix_refund_request_location_status")
        batch.drop_index(batch.f("ix_refund_request_buyer_id"))
        batch.drop_index(batch.f("ix_refund_request_order_id"))
    op.drop_table("refund_request")
    op.execute("UPDATE shipment SET status = 'awaiting_dispatch' WHERE status = 'cancelled'")
    op.execute("UPDATE pickup_ticket SET status = 'handed_over' WHERE status = 'cancelled'")
    _recheck("shipment", SHIPMENT_OLD)
    _recheck("pickup_ticket", TICKET_OLD)
