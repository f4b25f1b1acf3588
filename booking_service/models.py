"""Tables of the `bookings` schema: bookings, their flights (segments), seats and passengers."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.contracts.bookings import CANCELLED as CANCELLED
from shared.contracts.bookings import CONFIRMED as CONFIRMED
from shared.contracts.bookings import EXPIRED as EXPIRED
from shared.contracts.bookings import PENDING as PENDING
from shared.contracts.bookings import STATUSES as STATUSES
from shared.db import service_metadata
from shared.events import outbox_table, processed_events_table

SCHEMA = "bookings"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


# The statuses (PENDING, CONFIRMED, CANCELLED, EXPIRED; STATUSES) are the contract's: the
# payment, discount and ticket services read them too.
# Not ended yet: a cancellation asked for may still have a refund and a release to finish.
OPEN = (PENDING, CONFIRMED)

Money = Numeric(10, 2)
TZ = DateTime(timezone=True)


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference: Mapped[str] = mapped_column(String(6), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(200))
    base: Mapped[Decimal] = mapped_column(Money)
    taxes: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    total: Mapped[Decimal] = mapped_column(Money)
    amount_due: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    discount_code: Mapped[str | None] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(TZ)
    # The payment the payment service is running for this booking (set before it charges the
    # card, cleared when that payment fails); the sweeper leaves such a booking alone.
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    payment_started_at: Mapped[datetime | None] = mapped_column(TZ)
    # A cancellation that was asked for and not finished yet (refund and seat release pending).
    cancel_requested_at: Mapped[datetime | None] = mapped_column(TZ)
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    refunded_amount: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(TZ)
    cancelled_at: Mapped[datetime | None] = mapped_column(TZ)
    expired_at: Mapped[datetime | None] = mapped_column(TZ)

    # Loaded only when asked for (`service.load_booking`): most steps need the row alone, and
    # loading these on every read was 3 extra queries each time. "raise" makes a forgotten
    # load an error, not a silent query.
    segments: Mapped[list["Segment"]] = relationship(
        back_populates="booking",
        order_by="Segment.position",
        lazy="raise",
        cascade="all, delete-orphan",
    )
    passengers: Mapped[list["Passenger"]] = relationship(
        order_by="Passenger.position", lazy="raise", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint("amount_due >= 0", name="amount_due_not_negative"),
        Index("ix_bookings_user_id_id", "user_id", "id"),
        Index(
            "ix_bookings_pending_expiry",
            "expires_at",
            postgresql_where=text(f"status = '{PENDING}'"),
        ),
        Index(
            "ix_bookings_cancel_requested",
            "cancel_requested_at",
            postgresql_where=text(f"cancel_requested_at IS NOT NULL AND status IN {OPEN!r}"),
        ),
    )

    @property
    def flight_ids(self) -> list[int]:
        return [s.flight_id for s in self.segments]

    @property
    def payment_in_progress(self) -> bool:
        return self.status == PENDING and self.payment_id is not None


class Segment(Base):
    """One flight of the booking, bought from one seat hold."""

    __tablename__ = "booking_segments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    flight_id: Mapped[int] = mapped_column(BigInteger, index=True)
    flight_number: Mapped[str] = mapped_column(String(10))
    airline: Mapped[str] = mapped_column(String(80))
    origin: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(3))
    departure_time: Mapped[datetime] = mapped_column(TZ)
    arrival_time: Mapped[datetime] = mapped_column(TZ)
    # A hold buys one booking, ever: the final guard against two bookings from one hold.
    hold_id: Mapped[str] = mapped_column(String(64), unique=True)
    seat_numbers: Mapped[list[str]] = mapped_column("seats", ARRAY(String(4)))
    cabin: Mapped[str] = mapped_column(String(16))  # the seats' cabin, or "mixed"

    booking: Mapped[Booking] = relationship(back_populates="segments", lazy="raise")
    seats: Mapped[list["BookedSeat"]] = relationship(
        order_by="BookedSeat.position", lazy="raise", cascade="all, delete-orphan"
    )


class BookedSeat(Base):
    """A seat on one flight, its cabin, fare and tax, and the passenger sitting in it."""

    __tablename__ = "booked_seats"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("booking_segments.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)  # the passenger's position
    seat_number: Mapped[str] = mapped_column(String(4))
    cabin: Mapped[str] = mapped_column(String(16))
    fare: Mapped[Decimal] = mapped_column(Money)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    tax: Mapped[Decimal] = mapped_column(Money)


class Passenger(Base):
    __tablename__ = "passengers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
