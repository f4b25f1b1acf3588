"""Tables of the `flights` schema: airports, aircraft, flights, the availability read-model,
and the event outbox / processed-events tables."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.events import outbox_table, processed_events_table


class Base(DeclarativeBase):
    metadata = service_metadata("flights")


SCHEDULED = "scheduled"
CANCELLED = "cancelled"
STATUSES = (SCHEDULED, CANCELLED)
CABINS = ("economy", "business")


class Airport(Base):
    __tablename__ = "airports"

    iata: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    tz: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)


class AircraftType(Base):
    __tablename__ = "aircraft_types"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # [{"cabin": "business", "firstRow": 1, "lastRow": 2, "letters": "ACDF"}, ...]
    cabins: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    seats_economy: Mapped[int] = mapped_column(Integer)
    seats_business: Mapped[int] = mapped_column(Integer)


class Flight(Base):
    __tablename__ = "flights"
    __table_args__ = (
        UniqueConstraint("flight_number", "departure_utc"),
        CheckConstraint("origin <> destination", name="distinct_airports"),
        CheckConstraint("arrival_utc > departure_utc", name="arrives_after_departure"),
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        # First legs: from an airport within a departure window.
        Index("ix_flights_origin_departure", "origin", "departure_utc"),
        # Second legs: into an airport within a departure window.
        Index("ix_flights_destination_departure", "destination", "departure_utc"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    flight_number: Mapped[str] = mapped_column(String(10))
    airline_code: Mapped[str] = mapped_column(String(3))
    airline_name: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(ForeignKey("airports.iata"))
    destination: Mapped[str] = mapped_column(ForeignKey("airports.iata"))
    departure_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    arrival_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    aircraft_code: Mapped[str] = mapped_column(ForeignKey("aircraft_types.code"))
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED, server_default=SCHEDULED)
    fare_economy: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    fare_business: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Availability(Base):
    """Seats left per flight, kept from the seat service's events (its capacity before any)."""

    __tablename__ = "availability"

    flight_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("flights.id", ondelete="CASCADE"), primary_key=True
    )
    seats_available: Mapped[int] = mapped_column(Integer)
    seats_economy: Mapped[int] = mapped_column(Integer)
    seats_business: Mapped[int] = mapped_column(Integer)
    # The `version` of the last seats event applied; older (re-ordered) events are ignored.
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
