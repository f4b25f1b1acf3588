"""Tables of the `seats` schema.

No row per seat: a flight's seat map is its aircraft layout (JSONB) minus the seats sold
(`sold_seats`, Postgres, the final guard) minus the seats held (live holds in Redis).
`holds` is the history of every hold granted, whatever became of it.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.events import outbox_table, processed_events_table

SCHEMA = "seats"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


# A hold's life (`holds.status`): HELD while live in Redis, then CONFIRMED (its seats sold to a
# booking), RELEASED (given back early) or EXPIRED (ran out). The hand-written SQL (`pg.py`)
# interpolates these constants; the check constraint keeps the column to them.
HELD, CONFIRMED, RELEASED, EXPIRED = "held", "confirmed", "released", "expired"
HOLD_STATUSES = (HELD, CONFIRMED, RELEASED, EXPIRED)


class Flight(Base):
    """What this service knows of a flight: its layout, state and availability version."""

    __tablename__ = "flights"

    flight_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flight_number: Mapped[str] = mapped_column(String(16))
    airline: Mapped[str | None] = mapped_column(String(100))
    origin: Mapped[str | None] = mapped_column(String(3))
    destination: Mapped[str | None] = mapped_column(String(3))
    departure_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    arrival_utc: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), server_default="scheduled")
    # The aircraft document of `flight.created`: {code, name, cabins: [{cabin, firstRow, ...}]}.
    layout: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Seats per cabin on this aircraft, e.g. {"business": 12, "economy": 150}.
    capacity: Mapped[dict[str, int]] = mapped_column(JSONB)
    total_seats: Mapped[int] = mapped_column(Integer)
    # Bumped by every change to the flight's sold seats; carried by availability events so a
    # consumer can drop an event older than what it already has.
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SoldSeat(Base):
    """A sold seat. UNIQUE (flight, seat) is what makes a double sale impossible."""

    __tablename__ = "sold_seats"
    __table_args__ = (
        UniqueConstraint("flight_id", "seat_number"),
        Index("ix_sold_seats_hold_id", "hold_id"),
        Index("ix_sold_seats_booking_id", "booking_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.flight_id", ondelete="CASCADE"))
    seat_number: Mapped[str] = mapped_column(String(8))
    cabin: Mapped[str] = mapped_column(String(20))
    hold_id: Mapped[UUID | None] = mapped_column(Uuid)
    booking_id: Mapped[str | None] = mapped_column(String(64))
    sold_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Hold(Base):
    """One hold granted to a user: the history; the live state is in Redis."""

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_flight_id", "flight_id"),
        Index("ix_holds_user_id", "user_id"),
        # The sweeper looks for held rows past their expiry.
        Index(
            "ix_holds_live_expires_at", "expires_at", postgresql_where=text(f"status = '{HELD}'")
        ),
        CheckConstraint(f"status IN {HOLD_STATUSES!r}", name="status"),
    )

    hold_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.flight_id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    seats: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    status: Mapped[str] = mapped_column(String(12), server_default=HELD)
    booking_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
