"""flights schema: airports, aircraft types, flights, availability, outbox, processed events

Revision ID: flights_0001
Revises:
Create Date: 2025-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "flights_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "flights"


def upgrade() -> None:
    op.create_table(
        "airports",
        sa.Column("iata", sa.String(3), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("iata", name="pk_airports"),
        schema=SCHEMA,
    )
    op.create_table(
        "aircraft_types",
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("cabins", postgresql.JSONB(), nullable=False),
        sa.Column("seats_economy", sa.Integer(), nullable=False),
        sa.Column("seats_business", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_aircraft_types"),
        schema=SCHEMA,
    )
    op.create_table(
        "flights",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("flight_number", sa.String(10), nullable=False),
        sa.Column("airline_code", sa.String(3), nullable=False),
        sa.Column("airline_name", sa.String(100), nullable=False),
        sa.Column("origin", sa.String(3), nullable=False),
        sa.Column("destination", sa.String(3), nullable=False),
        sa.Column("departure_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrival_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("aircraft_code", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), server_default="scheduled", nullable=False),
        sa.Column("fare_economy", sa.Numeric(10, 2), nullable=False),
        sa.Column("fare_business", sa.Numeric(10, 2), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("origin <> destination", name="ck_flights_distinct_airports"),
        sa.CheckConstraint(
            "arrival_utc > departure_utc", name="ck_flights_arrives_after_departure"
        ),
        sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name="ck_flights_status"),
        sa.ForeignKeyConstraint(
            ["origin"], [f"{SCHEMA}.airports.iata"], name="fk_flights_origin_airports"
        ),
        sa.ForeignKeyConstraint(
            ["destination"], [f"{SCHEMA}.airports.iata"], name="fk_flights_destination_airports"
        ),
        sa.ForeignKeyConstraint(
            ["aircraft_code"],
            [f"{SCHEMA}.aircraft_types.code"],
            name="fk_flights_aircraft_code_aircraft_types",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_flights"),
        sa.UniqueConstraint(
            "flight_number", "departure_utc", name="uq_flights_flight_number_departure_utc"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_flights_origin_departure", "flights", ["origin", "departure_utc"], schema=SCHEMA
    )
    op.create_index(
        "ix_flights_destination_departure",
        "flights",
        ["destination", "departure_utc"],
        schema=SCHEMA,
    )
    op.create_table(
        "availability",
        sa.Column("flight_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seats_available", sa.Integer(), nullable=False),
        sa.Column("seats_economy", sa.Integer(), nullable=False),
        sa.Column("seats_business", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flight_id"],
            [f"{SCHEMA}.flights.id"],
            name="fk_availability_flight_id_flights",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flight_id", name="pk_availability"),
        schema=SCHEMA,
    )
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
    op.drop_table("availability", schema=SCHEMA)
    op.drop_index("ix_flights_destination_departure", table_name="flights", schema=SCHEMA)
    op.drop_index("ix_flights_origin_departure", table_name="flights", schema=SCHEMA)
    op.drop_table("flights", schema=SCHEMA)
    op.drop_table("aircraft_types", schema=SCHEMA)
    op.drop_table("airports", schema=SCHEMA)
