"""bookings: bookings, their flights, seats and passengers; outbox and processed events

Revision ID: 0001_bookings
Revises:
Create Date: 2025-11-25
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_bookings"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "bookings"


def _tz(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _money(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.Numeric(10, 2), **kw)


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("reference", sa.String(6), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(200), nullable=True),
        _money("base", nullable=False),
        _money("taxes", nullable=False),
        _money("fees", nullable=False),
        _money("discount", nullable=False, server_default=sa.text("0")),
        _money("total", nullable=False),
        _money("amount_due", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("discount_code", sa.String(40), nullable=True),
        _tz("expires_at", nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        _tz("payment_started_at", nullable=True),
        _tz("cancel_requested_at", nullable=True),
        sa.Column("cancel_reason", sa.String(40), nullable=True),
        _money("refunded_amount", nullable=True),
        _tz("created_at", nullable=False, server_default=sa.func.now()),
        _tz("updated_at", nullable=False, server_default=sa.func.now()),
        _tz("confirmed_at", nullable=True),
        _tz("cancelled_at", nullable=True),
        _tz("expired_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
        sa.UniqueConstraint("reference", name="uq_bookings_reference"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')", name="ck_bookings_status"
        ),
        sa.CheckConstraint("amount_due >= 0", name="ck_bookings_amount_due_not_negative"),
        schema=SCHEMA,
    )
    op.create_index("ix_bookings_user_id_id", "bookings", ["user_id", "id"], schema=SCHEMA)
    op.create_index(
        "ix_bookings_pending_expiry",
        "bookings",
        ["expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        "ix_bookings_cancel_requested",
        "bookings",
        ["cancel_requested_at"],
        schema=SCHEMA,
        postgresql_where=sa.text(
            "cancel_requested_at IS NOT NULL AND status IN ('PENDING', 'CONFIRMED')"
        ),
    )

    op.create_table(
        "booking_segments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("flight_id", sa.BigInteger(), nullable=False),
        sa.Column("flight_number", sa.String(10), nullable=False),
        sa.Column("airline", sa.String(80), nullable=False),
        sa.Column("origin", sa.String(3), nullable=False),
        sa.Column("destination", sa.String(3), nullable=False),
        _tz("departure_time", nullable=False),
        _tz("arrival_time", nullable=False),
        sa.Column("hold_id", sa.String(64), nullable=False),
        sa.Column("seats", postgresql.ARRAY(sa.String(4)), nullable=False),
        sa.Column("cabin", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_booking_segments"),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            [f"{SCHEMA}.bookings.id"],
            name="fk_booking_segments_booking_id_bookings",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("hold_id", name="uq_booking_segments_hold_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_bookings_booking_segments_booking_id", "booking_segments", ["booking_id"], schema=SCHEMA
    )
    op.create_index(
        "ix_bookings_booking_segments_flight_id", "booking_segments", ["flight_id"], schema=SCHEMA
    )

    op.create_table(
        "booked_seats",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("seat_number", sa.String(4), nullable=False),
        sa.Column("cabin", sa.String(16), nullable=False),
        _money("fare", nullable=False),
        sa.Column("tax_rate", sa.Numeric(4, 3), nullable=False),
        _money("tax", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_booked_seats"),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            [f"{SCHEMA}.booking_segments.id"],
            name="fk_booked_seats_segment_id_booking_segments",
            ondelete="CASCADE",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_bookings_booked_seats_segment_id", "booked_seats", ["segment_id"], schema=SCHEMA
    )

    op.create_table(
        "passengers",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_passengers"),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            [f"{SCHEMA}.bookings.id"],
            name="fk_passengers_booking_id_bookings",
            ondelete="CASCADE",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_bookings_passengers_booking_id", "passengers", ["booking_id"], schema=SCHEMA
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
    op.drop_index("ix_bookings_passengers_booking_id", table_name="passengers", schema=SCHEMA)
    op.drop_table("passengers", schema=SCHEMA)
    op.drop_index("ix_bookings_booked_seats_segment_id", table_name="booked_seats", schema=SCHEMA)
    op.drop_table("booked_seats", schema=SCHEMA)
    op.drop_index(
        "ix_bookings_booking_segments_flight_id", table_name="booking_segments", schema=SCHEMA
    )
    op.drop_index(
        "ix_bookings_booking_segments_booking_id", table_name="booking_segments", schema=SCHEMA
    )
    op.drop_table("booking_segments", schema=SCHEMA)
    op.drop_index("ix_bookings_cancel_requested", table_name="bookings", schema=SCHEMA)
    op.drop_index("ix_bookings_pending_expiry", table_name="bookings", schema=SCHEMA)
    op.drop_index("ix_bookings_user_id_id", table_name="bookings", schema=SCHEMA)
    op.drop_table("bookings", schema=SCHEMA)
