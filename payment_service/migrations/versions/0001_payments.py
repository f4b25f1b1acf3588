"""payments: payments, refunds, idempotency keys, the mock gateway's charges, outbox

Revision ID: 0001_payments
Revises:
Create Date: 2025-11-25
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_payments"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "payments"


def _tz(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _money(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.Numeric(10, 2), **kw)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_reference", sa.String(6), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _money("amount", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_brand", sa.String(20), nullable=True),
        sa.Column("decline_code", sa.String(40), nullable=True),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("gateway_charge_id", sa.String(40), nullable=True),
        sa.Column("booking_status", sa.String(16), nullable=True),
        sa.Column("settled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        _tz("created_at", nullable=False, server_default=sa.func.now()),
        _tz("updated_at", nullable=False, server_default=sa.func.now()),
        _tz("charged_at", nullable=True),
        _tz("succeeded_at", nullable=True),
        _tz("refunded_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CHARGED', 'SUCCEEDED', 'FAILED', 'REFUNDED')",
            name="ck_payments_status",
        ),
        sa.CheckConstraint("amount >= 0", name="ck_payments_amount_not_negative"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_payments_booking_in_flight",
        "payments",
        ["booking_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('PENDING', 'CHARGED', 'SUCCEEDED')"),
    )
    op.create_index("ix_payments_booking_id", "payments", ["booking_id"], schema=SCHEMA)
    op.create_index("ix_payments_user_id_id", "payments", ["user_id", "id"], schema=SCHEMA)
    op.create_index(
        "ix_payments_unsettled",
        "payments",
        ["updated_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("NOT settled"),
    )
    op.create_index(
        "ix_payments_user_id_idempotency_key",
        "payments",
        ["user_id", "idempotency_key"],
        schema=SCHEMA,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )

    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        _money("amount", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("gateway_refund_id", sa.String(40), nullable=False),
        _tz("created_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            [f"{SCHEMA}.payments.id"],
            name="fk_refunds_payment_id_payments",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("payment_id", name="uq_refunds_payment_id"),
        schema=SCHEMA,
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response_status", sa.SmallInteger(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(), nullable=True),
        _tz("locked_at", nullable=False),
        _tz("created_at", nullable=False, server_default=sa.func.now()),
        _tz("expires_at", nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
        sa.CheckConstraint("status IN ('in_progress', 'done')", name="ck_idempotency_keys_status"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_payments_idempotency_keys_expires_at",
        "idempotency_keys",
        ["expires_at"],
        schema=SCHEMA,
    )

    op.create_table(
        "gateway_charges",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        _money("amount", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decline_code", sa.String(40), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_brand", sa.String(20), nullable=True),
        _tz("created_at", nullable=False, server_default=sa.func.now()),
        sa.Column("refund_id", sa.String(40), nullable=True),
        _tz("refunded_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_charges"),
        sa.UniqueConstraint("payment_id", name="uq_gateway_charges_payment_id"),
        sa.CheckConstraint(
            "status IN ('succeeded', 'declined', 'voided')", name="ck_gateway_charges_status"
        ),
        schema=SCHEMA,
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        _tz("created_at", nullable=False, server_default=sa.func.now()),
        _tz("published_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        schema=SCHEMA,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("gateway_charges", schema=SCHEMA)
    op.drop_index(
        "ix_payments_idempotency_keys_expires_at", table_name="idempotency_keys", schema=SCHEMA
    )
    op.drop_table("idempotency_keys", schema=SCHEMA)
    op.drop_table("refunds", schema=SCHEMA)
    op.drop_index("ix_payments_user_id_idempotency_key", table_name="payments", schema=SCHEMA)
    op.drop_index("ix_payments_unsettled", table_name="payments", schema=SCHEMA)
    op.drop_index("ix_payments_user_id_id", table_name="payments", schema=SCHEMA)
    op.drop_index("ix_payments_booking_id", table_name="payments", schema=SCHEMA)
    op.drop_index("uq_payments_booking_in_flight", table_name="payments", schema=SCHEMA)
    op.drop_table("payments", schema=SCHEMA)
