"""Request and response bodies of the booking service (camelCase in JSON)."""

from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from booking_service.models import PENDING, Booking, Segment
from shared.contracts.bookings import (
    BookedSeat,
    BookingConfirmed,
    BookingDetails,
    BookingEvent,
    BookingState,
    Fare,
    FareAmounts,
    InternalBooking,
    Passenger,
    SeatRef,
)
from shared.contracts.bookings import Segment as ContractSegment
from shared.ids import BIGINT_MAX
from shared.money import Amount
from shared.schemas import CamelModel, RequestModel

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
HoldId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def _hold_id(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class PassengerIn(RequestModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None


class BookingCreate(RequestModel):
    """`{holdIds:[...]}`, or the seed's `{flightId, seats}` (with `holdId`/`holdIds` or not)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["holdIds"], "properties": {"holdIds": {"type": "array"}}},
                {"required": ["holdId"], "properties": {"holdId": {"not": {"type": "null"}}}},
                {"required": ["flightId"], "properties": {"flightId": {"type": "integer"}}},
            ]
        }
    )
    hold_ids: Annotated[list[HoldId], Field(min_length=1, max_length=4)] | None = None
    hold_id: HoldId | None = None
    flight_id: Id | None = None
    seats: Annotated[int, Field(ge=1, le=9)] | None = None
    passengers: Annotated[list[PassengerIn], Field(min_length=1, max_length=9)] | None = None
    price: Amount | None = None
    user_id: Id | None = None

    @field_validator("hold_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return [_hold_id(v) for v in value] if isinstance(value, list) else value

    @field_validator("hold_id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return _hold_id(value)

    @model_validator(mode="after")
    def _something_to_book(self) -> "BookingCreate":
        if not self.hold_ids and self.hold_id is None and self.flight_id is None:
            raise ValueError("give holdIds (or flightId and seats)")
        return self

    @property
    def all_hold_ids(self) -> list[str]:
        ids = list(self.hold_ids or [])
        if self.hold_id is not None:
            ids.append(self.hold_id)
        return list(dict.fromkeys(ids))


def booking_fields(b: Booking) -> dict[str, Any]:
    """A booking's fields as its contract (`BookingDetails`) names them (its graph loaded)."""
    names = [p.name for p in b.passengers]
    return {
        "id": b.id,
        "reference": b.reference,
        "user_id": b.user_id,
        "status": b.status,
        "status_reason": b.status_reason,
        "flight_ids": b.flight_ids,
        "seats": [  # every booked seat, flight by flight, with the passenger in it
            BookedSeat(
                flight_id=seg.flight_id,
                seat_number=s.seat_number,
                cabin=s.cabin,
                fare=s.fare,
                tax=s.tax,
                passenger=names[s.position] if s.position < len(names) else None,
            )
            for seg in b.segments
            for s in seg.seats
        ],
        "segments": [_segment(s) for s in b.segments],
        "passengers": [Passenger(name=p.name, email=p.email, phone=p.phone) for p in b.passengers],
        "fare": Fare.model_validate(b, from_attributes=True),
        "amount_due": b.amount_due,
        "currency": b.currency,
        "discount_code": b.discount_code,
        "expires_at": b.expires_at if b.status == PENDING else None,
        "payment_id": b.payment_id,
        "payment_in_progress": b.payment_in_progress,
        "refunded_amount": b.refunded_amount,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
        "confirmed_at": b.confirmed_at,
        "cancelled_at": b.cancelled_at,
    }


def _segment(s: Segment) -> ContractSegment:
    return ContractSegment(
        flight_id=s.flight_id,
        flight_number=s.flight_number,
        airline=s.airline,
        origin=s.origin,
        destination=s.destination,
        departure_time=s.departure_time,
        arrival_time=s.arrival_time,
        cabin=s.cabin,
        seats=list(s.seat_numbers),
        hold_id=s.hold_id,
    )


class BookingOut(BookingDetails):
    """A booking, as its traveller sees it."""

    @classmethod
    def of(cls, b: Booking) -> Self:
        return cls(**booking_fields(b))


class BookingPage(CamelModel):
    items: list[BookingOut]
    next_cursor: str | None


# Internal calls (service token only): the contracts, built from a booking --------------------


def internal_view(b: Booking) -> InternalBooking:
    """What the payment, discount and ticket services read: the booking and its raw deadline."""
    return InternalBooking(**booking_fields(b), pending_expires_at=b.expires_at)


def booking_state(b: Booking) -> BookingState:
    """A saga step's answer: the booking's columns only (its graph need not be loaded)."""
    return BookingState(
        id=b.id,
        reference=b.reference,
        user_id=b.user_id,
        status=b.status,
        status_reason=b.status_reason,
        amount_due=b.amount_due,
        currency=b.currency,
        discount_code=b.discount_code,
        payment_id=b.payment_id,
        payment_in_progress=b.payment_in_progress,
        expires_at=b.expires_at if b.status == PENDING else None,
        pending_expires_at=b.expires_at,
        updated_at=b.updated_at,
        confirmed_at=b.confirmed_at,
    )


E = TypeVar("E", bound=BookingEvent)


def booking_event(event: type[E], b: Booking, **extra: Any) -> E:
    """The `booking.*` event `event` of the booking as it is now (its graph loaded); `extra`
    are the event's own fields (`amount_before`, `was_paid`, ...)."""
    return event(
        booking_id=b.id,
        reference=b.reference,
        user_id=b.user_id,
        status=b.status,
        reason=b.status_reason,
        flight_ids=b.flight_ids,
        seats=[
            SeatRef(flight_id=seg.flight_id, seat_number=n)
            for seg in b.segments
            for n in seg.seat_numbers
        ],
        passengers=[p.name for p in b.passengers],
        fare=FareAmounts.model_validate(b, from_attributes=True),
        amount_due=b.amount_due,
        currency=b.currency,
        discount_code=b.discount_code,
        payment_id=b.payment_id,
        **extra,
    )


def confirmed_event(b: Booking) -> BookingConfirmed:
    """`booking.confirmed` also carries the whole booking (`booking`), so the ticket service
    issues the ticket without asking for it."""
    return booking_event(BookingConfirmed, b, booking=BookingDetails(**booking_fields(b)))
