"""tickets: tickets, ticket numbers, invoices and their counters; outbox and processed events

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "tickets"


def _tz(name: str, **kw: Any) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _money(name: str) -> sa.Column[Decimal]:
    return sa.Column(name, sa.Numeric(12, 2), nullable=False)


def upgrade() -> None:
    op.execute(
        sa.schema.CreateSequence(
            sa.Sequence(
                "ticket_serial_seq", start=1, minvalue=1, maxvalue=9_999_999_999, schema=SCHEMA
            )
        )
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), server_default="issued", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _tz("issued_at", nullable=False, server_default=sa.func.now()),
        _tz("voided_at", nullable=True),
        sa.Column("void_reason", sa.String(200), nullable=True),
        sa.Column("snapshot", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("booking_id", name="uq_tickets_booking_id"),
        sa.CheckConstraint("status IN ('issued', 'void')", name="ck_tickets_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_tickets_tickets_user_id", "tickets", ["user_id"], schema=SCHEMA)

    op.create_table(
        "ticket_numbers",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("ticket_number", sa.String(13), nullable=False),
        sa.Column("passenger", sa.String(100), nullable=False),
        sa.Column("flight_id", sa.BigInteger(), nullable=False),
        sa.Column("flight_number", sa.String(10), nullable=False),
        sa.Column("airline", sa.String(80), nullable=False),
        sa.Column("origin", sa.String(3), nullable=False),
        sa.Column("destination", sa.String(3), nullable=False),
        _tz("departure_time", nullable=False),
        _tz("arrival_time", nullable=False),
        sa.Column("cabin", sa.String(16), nullable=False),
        sa.Column("seat_number", sa.String(4), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_numbers"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            [f"{SCHEMA}.tickets.id"],
            name="fk_ticket_numbers_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("ticket_number", name="uq_ticket_numbers_ticket_number"),
        sa.CheckConstraint("ticket_number ~ '^[0-9]{13}$'", name="ck_ticket_numbers_ticket_number"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_tickets_ticket_numbers_ticket_id", "ticket_numbers", ["ticket_id"], schema=SCHEMA
    )

    op.create_table(
        "invoices",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("financial_year", sa.String(7), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        _money("base"),
        _money("gst"),
        _money("fees"),
        _money("discount"),
        _money("total"),
        sa.Column("total_in_words", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("seller", postgresql.JSONB(), nullable=False),
        sa.Column("billed_to", postgresql.JSONB(), nullable=False),
        _tz("issued_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            [f"{SCHEMA}.tickets.id"],
            name="fk_invoices_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("ticket_id", name="uq_invoices_ticket_id"),
        sa.UniqueConstraint("number", name="uq_invoices_number"),
        sa.CheckConstraint("total = base + gst + fees - discount", name="ck_invoices_adds_up"),
        schema=SCHEMA,
    )

    op.create_table(
        "invoice_counters",
        sa.Column("financial_year", sa.String(7), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("financial_year", name="pk_invoice_counters"),
        schema=SCHEMA,
    )

    op.create_table(
        "booking_cancellations",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        _tz("cancelled_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("booking_id", name="pk_booking_cancellations"),
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
    op.drop_table("booking_cancellations", schema=SCHEMA)
    op.drop_table("invoice_counters", schema=SCHEMA)
    op.drop_table("invoices", schema=SCHEMA)
    op.drop_index("ix_tickets_ticket_numbers_ticket_id", table_name="ticket_numbers", schema=SCHEMA)
    op.drop_table("ticket_numbers", schema=SCHEMA)
    op.drop_index("ix_tickets_tickets_user_id", table_name="tickets", schema=SCHEMA)
    op.drop_table("tickets", schema=SCHEMA)
    op.execute(sa.schema.DropSequence(sa.Sequence("ticket_serial_seq", schema=SCHEMA)))
