"""Tables of the `tickets` schema: tickets, their coupons (one e-ticket number per passenger
and flight), GST invoices and their per-financial-year counters."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import service_metadata
from shared.events import outbox_table, processed_events_table

SCHEMA = "tickets"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


ISSUED, VOID = "issued", "void"
STATUSES = (ISSUED, VOID)

Money = Numeric(12, 2)
TZ = DateTime(timezone=True)

# The 10-digit serial of e-ticket numbers (gaps are fine: a number only has to be unique).
ticket_serial = Sequence(
    "ticket_serial_seq",
    start=1,
    minvalue=1,
    maxvalue=9_999_999_999,
    schema=SCHEMA,
    metadata=Base.metadata,
)


class Ticket(Base):
    """The e-ticket of one confirmed booking (at most one per booking)."""

    __tablename__ = "tickets"
    __table_args__ = (CheckConstraint(f"status IN {STATUSES!r}", name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    reference: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), server_default=ISSUED)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    voided_at: Mapped[datetime | None] = mapped_column(TZ)
    void_reason: Mapped[str | None] = mapped_column(String(200))
    # The booking exactly as the booking service answered when the ticket was issued.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)

    coupons: Mapped[list["Coupon"]] = relationship(
        order_by="Coupon.position", lazy="selectin", cascade="all, delete-orphan"
    )
    invoice: Mapped["Invoice"] = relationship(
        lazy="selectin", cascade="all, delete-orphan", uselist=False
    )


class Coupon(Base):
    """One passenger on one flight, with its 13-digit e-ticket number."""

    __tablename__ = "ticket_numbers"
    __table_args__ = (CheckConstraint("ticket_number ~ '^[0-9]{13}$'", name="ticket_number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    ticket_number: Mapped[str] = mapped_column(String(13), unique=True)
    passenger: Mapped[str] = mapped_column(String(100))
    flight_id: Mapped[int] = mapped_column(BigInteger)
    flight_number: Mapped[str] = mapped_column(String(10))
    airline: Mapped[str] = mapped_column(String(80))
    origin: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(3))
    departure_time: Mapped[datetime] = mapped_column(TZ)
    arrival_time: Mapped[datetime] = mapped_column(TZ)
    cabin: Mapped[str] = mapped_column(String(16))
    seat_number: Mapped[str] = mapped_column(String(4))


class Invoice(Base):
    """The GST invoice of a ticket; `total` is what the traveller paid."""

    __tablename__ = "invoices"
    __table_args__ = (CheckConstraint("total = base + gst + fees - discount", name="adds_up"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    number: Mapped[str] = mapped_column(String(32), unique=True)
    financial_year: Mapped[str] = mapped_column(String(7))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    base: Mapped[Decimal] = mapped_column(Money)
    gst: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    total_in_words: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    # Who issued it and to whom, as printed (the settings may change later).
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB)
    billed_to: Mapped[dict[str, Any]] = mapped_column(JSONB)
    issued_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class InvoiceCounter(Base):
    """The last invoice serial of each financial year ("2026-27"): gapless, restarts yearly."""

    __tablename__ = "invoice_counters"

    financial_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


class BookingCancellation(Base):
    """A booking the booking service cancelled: never ticketed afterwards (guards the race
    between `booking.cancelled` and an issue that fetched the booking just before)."""

    __tablename__ = "booking_cancellations"

    booking_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
