"""notifications: notifications sent; outbox and processed events

Revision ID: 0001_notifications
Revises:
Create Date: 2025-11-26
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_notifications"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"


def _tz(name: str, **kw: Any) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("reference", sa.String(12), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), server_default="queued", nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        _tz("created_at", server_default=sa.func.now(), nullable=False),
        _tz("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("event_id", "channel", name="uq_notifications_event_id_channel"),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_notifications_channel"),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed')", name="ck_notifications_status"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_notifications_user_id_id", "notifications", ["user_id", "id"], schema=SCHEMA
    )
    op.create_index(
        "ix_notifications_queued",
        "notifications",
        ["id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'queued'"),
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
    op.drop_index("ix_notifications_queued", table_name="notifications", schema=SCHEMA)
    op.drop_index("ix_notifications_user_id_id", table_name="notifications", schema=SCHEMA)
    op.drop_table("notifications", schema=SCHEMA)
