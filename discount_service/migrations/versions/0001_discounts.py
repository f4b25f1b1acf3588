"""discounts: codes and redemptions; outbox and processed events

Revision ID: 0001_discounts
Revises:
Create Date: 2025-11-26
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_discounts"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "discounts"


def _tz(name: str, **kw: Any) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("value", sa.Numeric(10, 2), nullable=False),
        sa.Column("max_discount", sa.Numeric(10, 2), nullable=True),
        sa.Column(
            "min_booking_amount", sa.Numeric(10, 2), server_default=sa.text("0"), nullable=False
        ),
        _tz("valid_from", nullable=True),
        _tz("valid_until", nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("per_user_limit", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("times_used", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _tz("created_at", server_default=sa.func.now(), nullable=False),
        _tz("updated_at", server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_codes"),
        sa.UniqueConstraint("code", name="uq_codes_code"),
        sa.CheckConstraint("code = upper(code)", name="ck_codes_code_upper"),
        sa.CheckConstraint("kind IN ('flat', 'percent')", name="ck_codes_kind"),
        sa.CheckConstraint("value > 0 AND (kind = 'flat' OR value <= 100)", name="ck_codes_value"),
        sa.CheckConstraint("min_booking_amount >= 0", name="ck_codes_min_booking_amount"),
        sa.CheckConstraint(
            "max_discount IS NULL OR max_discount > 0", name="ck_codes_max_discount"
        ),
        sa.CheckConstraint("usage_limit IS NULL OR usage_limit >= 0", name="ck_codes_usage_limit"),
        sa.CheckConstraint(
            "per_user_limit IS NULL OR per_user_limit >= 1", name="ck_codes_per_user_limit"
        ),
        sa.CheckConstraint(
            "times_used >= 0 AND (usage_limit IS NULL OR times_used <= usage_limit)",
            name="ck_codes_times_used",
        ),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_until > valid_from",
            name="ck_codes_validity",
        ),
        schema=SCHEMA,
    )

    op.create_table(
        "redemptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("code_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(10), server_default="applied", nullable=False),
        _tz("created_at", server_default=sa.func.now(), nullable=False),
        _tz("released_at", nullable=True),
        sa.Column("release_reason", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_redemptions"),
        sa.ForeignKeyConstraint(
            ["code_id"], [f"{SCHEMA}.codes.id"], name="fk_redemptions_code_id_codes"
        ),
        sa.UniqueConstraint("booking_id", name="uq_redemptions_booking_id"),
        sa.CheckConstraint("status IN ('applied', 'released')", name="ck_redemptions_status"),
        sa.CheckConstraint("amount >= 0", name="ck_redemptions_amount"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_redemptions_code_user_applied",
        "redemptions",
        ["code_id", "user_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'applied'"),
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

    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        _tz("processed_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_index("ix_redemptions_code_user_applied", table_name="redemptions", schema=SCHEMA)
    op.drop_table("redemptions", schema=SCHEMA)
    op.drop_table("codes", schema=SCHEMA)
