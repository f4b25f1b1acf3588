"""The booking service's contracts: a booking as other services read it, the payment saga's
steps and the discount service's repricing, and the `booking.*` events.

    GET  /internal/bookings/{id}                    InternalBooking (payment, discount, ticket)
    POST /internal/bookings/{id}/payment-started    PaymentStart -> BookingState   (payment)
    POST /internal/bookings/{id}/payment-failed     PaymentRef -> BookingState     (payment)
    POST /internal/bookings/{id}/confirm            PaymentRef -> BookingState     (payment)
    POST /internal/bookings/{id}/expire             BookingState                   (payment)
    POST /internal/bookings/{id}/discount           DiscountRequest -> Repriced    (discount)
    booking.created, booking.repriced, booking.expired, booking.cancelled, booking.confirmed
        (discount, ticket, notification)

`BookingState` is every field a saga step answers, and each of them is in `InternalBooking`
too: the payment service reads both answers as a `BookingState`.
"""

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.contracts.events import EventPayload
from shared.ids import BIGINT_MAX
from shared.money import Amount
from shared.schemas import CamelModel, RequestModel

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]

# A booking's statuses, as every service reads them (the booking service's own constants).
PENDING, CONFIRMED, CANCELLED, EXPIRED = "PENDING", "CONFIRMED", "CANCELLED", "EXPIRED"
STATUSES = (PENDING, CONFIRMED, CANCELLED, EXPIRED)


# The booking ----------------------------------------------------------------------------------


class FareAmounts(CamelModel):
    """The fare breakdown: the total is base + taxes + fees - discount."""

    base: Amount
    taxes: Amount
    fees: Amount
    discount: Amount
    total: Amount


class Fare(FareAmounts):
    currency: str


class BookedSeat(CamelModel):
    """A seat of the booking, what it cost, and who sits in it (by position)."""

    flight_id: int
    seat_number: str
    cabin: str
    fare: Amount
    tax: Amount
    passenger: str | None = None


class Segment(CamelModel):
    """A flight of the itinerary, as it was when booked, and the booking's seats on it."""

    flight_id: int
    flight_number: str
    airline: str
    origin: str
    destination: str
    departure_time: datetime
    arrival_time: datetime
    cabin: str
    seats: list[str]
    hold_id: str


class Passenger(CamelModel):
    name: str
    email: str | None = None
    phone: str | None = None


class BookingDetails(CamelModel):
    """The whole booking: the public answer (`BookingOut`), the repricing's `booking` and
    `booking.confirmed`'s. A booking has at least one flight and one seat."""

    id: int
    reference: str
    user_id: int
    status: str
    status_reason: str | None
    flight_ids: list[int]
    seats: list[BookedSeat] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    passengers: list[Passenger]
    fare: Fare
    amount_due: Amount
    currency: str
    discount_code: str | None
    expires_at: datetime | None  # PENDING only
    payment_id: int | None
    payment_in_progress: bool
    refunded_amount: Amount | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None


class InternalBooking(BookingDetails):
    """GET /internal/bookings/{id}: the booking and its raw deadline, whatever its status."""

    pending_expires_at: datetime


# The payment saga's steps ---------------------------------------------------------------------


class PaymentStart(RequestModel):
    """Reserve the booking for this payment of this amount (idempotent per payment)."""

    payment_id: Id
    amount: Amount
    user_id: Id


class PaymentRef(RequestModel):
    """The payment failed (payable again), or confirm the booking it paid (idempotent)."""

    payment_id: Id
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class BookingState(CamelModel):
    """What a saga step answers: the booking's state, amount and deadline (not its flights,
    seats and passengers, which those steps do not load)."""

    id: int
    reference: str
    user_id: int
    status: str
    status_reason: str | None
    amount_due: Amount
    currency: str
    discount_code: str | None
    payment_id: int | None
    payment_in_progress: bool
    expires_at: datetime | None  # PENDING only
    pending_expires_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None


# The discount service's repricing -------------------------------------------------------------


class DiscountRequest(RequestModel):
    """Take `discount` off the PENDING booking for `code` (idempotent for the same pair)."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    discount: Amount


class Repriced(CamelModel):
    code: str
    discount: Amount
    amount_before: Amount
    amount_after: Amount
    booking: BookingDetails


# Events ---------------------------------------------------------------------------------------


class SeatRef(CamelModel):
    flight_id: int
    seat_number: str


class BookingEvent(EventPayload):
    """What every `booking.*` event carries: the booking as the change left it."""

    booking_id: int
    reference: str
    user_id: int
    status: str
    reason: str | None = None  # the status reason
    flight_ids: list[int]
    seats: list[SeatRef]
    passengers: list[str]  # names, by position
    fare: FareAmounts
    amount_due: Amount
    currency: str
    discount_code: str | None = None
    payment_id: int | None = None


class BookingCreated(BookingEvent, type="booking.created"):
    """A PENDING booking of held seats."""


class BookingRepriced(BookingEvent, type="booking.repriced"):
    """A discount code was applied to the PENDING booking."""

    amount_before: Amount


class BookingExpired(BookingEvent, type="booking.expired"):
    """Not paid before its seat hold ran out (or a held seat was sold meanwhile)."""


class BookingCancelled(BookingEvent, type="booking.cancelled"):
    """Cancelled by the traveller or with its flight; a paid booking was refunded in full (an
    unpaid one's stray charge is the payment service's `payment.refunded`)."""

    refunded_amount: Amount
    was_paid: bool
    # Only a paid booking's event has the key.
    refund_payment_id: int | None = Field(default=None, exclude_if=lambda v: v is None)


class BookingConfirmed(BookingEvent, type="booking.confirmed"):
    """Paid and its seats sold. `booking` is the whole booking (as GET /internal/bookings/{id}
    shows it, but its `pendingExpiresAt`), so the ticket is issued without asking for it; an
    event from before it was sent has none."""

    booking: BookingDetails | None = None
