"""seats schema: flights, sold seats, hold history, outbox, processed events

Revision ID: seat_0001
Revises:
Create Date: 2025-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "seat_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "seats"


def upgrade() -> None:
    op.create_table(
        "flights",
        sa.Column("flight_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("flight_number", sa.String(16), nullable=False),
        sa.Column("airline", sa.String(100), nullable=True),
        sa.Column("origin", sa.String(3), nullable=True),
        sa.Column("destination", sa.String(3), nullable=True),
        sa.Column("departure_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrival_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), server_default="scheduled", nullable=False),
        sa.Column("layout", postgresql.JSONB(), nullable=False),
        sa.Column("capacity", postgresql.JSONB(), nullable=False),
        sa.Column("total_seats", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("flight_id", name="pk_flights"),
        schema=SCHEMA,
    )
    op.create_table(
        "holds",
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("flight_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("seats", postgresql.ARRAY(sa.String(8)), nullable=False),
        sa.Column("status", sa.String(12), server_default="held", nullable=False),
        sa.Column("booking_id", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'released', 'expired')", name="ck_holds_status"
        ),
        sa.ForeignKeyConstraint(
            ["flight_id"],
            [f"{SCHEMA}.flights.flight_id"],
            name="fk_holds_flight_id_flights",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hold_id", name="pk_holds"),
        schema=SCHEMA,
    )
    op.create_index("ix_holds_flight_id", "holds", ["flight_id"], schema=SCHEMA)
    op.create_index("ix_holds_user_id", "holds", ["user_id"], schema=SCHEMA)
    op.create_index(
        "ix_holds_live_expires_at",
        "holds",
        ["expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "sold_seats",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("flight_id", sa.BigInteger(), nullable=False),
        sa.Column("seat_number", sa.String(8), nullable=False),
        sa.Column("cabin", sa.String(20), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("booking_id", sa.String(64), nullable=True),
        sa.Column(
            "sold_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flight_id"],
            [f"{SCHEMA}.flights.flight_id"],
            name="fk_sold_seats_flight_id_flights",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sold_seats"),
        # The final guard: a seat of a flight is sold at most once.
        sa.UniqueConstraint("flight_id", "seat_number", name="uq_sold_seats_flight_id_seat_number"),
        schema=SCHEMA,
    )
    op.create_index("ix_sold_seats_hold_id", "sold_seats", ["hold_id"], schema=SCHEMA)
    op.create_index("ix_sold_seats_booking_id", "sold_seats", ["booking_id"], schema=SCHEMA)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_index("ix_sold_seats_booking_id", table_name="sold_seats", schema=SCHEMA)
    op.drop_index("ix_sold_seats_hold_id", table_name="sold_seats", schema=SCHEMA)
    op.drop_table("sold_seats", schema=SCHEMA)
    op.drop_index("ix_holds_live_expires_at", table_name="holds", schema=SCHEMA)
    op.drop_index("ix_holds_user_id", table_name="holds", schema=SCHEMA)
    op.drop_index("ix_holds_flight_id", table_name="holds", schema=SCHEMA)
    op.drop_table("holds", schema=SCHEMA)
    op.drop_table("flights", schema=SCHEMA)
