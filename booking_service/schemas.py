"""Request and response bodies of the booking service (camelCase in JSON)."""

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from booking_service.models import Booking, Segment
from shared.ids import BIGINT_MAX
from shared.money import Amount, MoneyOut
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


class FareOut(CamelModel):
    """The booking's fare breakdown: its own columns, one to one."""

    model_config = ConfigDict(from_attributes=True)

    base: MoneyOut
    taxes: MoneyOut
    fees: MoneyOut
    discount: MoneyOut
    total: MoneyOut
    currency: str


class SeatOut(CamelModel):
    flight_id: int
    seat_number: str
    cabin: str
    fare: MoneyOut
    tax: MoneyOut
    passenger: str | None = None


def seats_of(b: Booking) -> list[SeatOut]:
    """Every booked seat, flight by flight, with the passenger in it (by position)."""
    names = [p.name for p in b.passengers]
    return [
        SeatOut(
            flight_id=seg.flight_id,
            seat_number=s.seat_number,
            cabin=s.cabin,
            fare=s.fare,
            tax=s.tax,
            passenger=names[s.position] if s.position < len(names) else None,
        )
        for seg in b.segments
        for s in seg.seats
    ]


class SegmentOut(CamelModel):
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

    @classmethod
    def of(cls, s: Segment) -> Self:
        return cls(
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


class PassengerOut(CamelModel):
    name: str
    email: str | None = None
    phone: str | None = None


class BookingOut(CamelModel):
    id: int
    reference: str
    user_id: int
    status: str
    status_reason: str | None
    flight_ids: list[int]
    seats: list[SeatOut]
    segments: list[SegmentOut]
    passengers: list[PassengerOut]
    fare: FareOut
    amount_due: MoneyOut
    currency: str
    discount_code: str | None
    expires_at: datetime | None
    payment_id: int | None
    payment_in_progress: bool
    refunded_amount: MoneyOut | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, b: Booking, **extra: Any) -> Self:
        return cls(
            id=b.id,
            reference=b.reference,
            user_id=b.user_id,
            status=b.status,
            status_reason=b.status_reason,
            flight_ids=b.flight_ids,
            seats=seats_of(b),
            segments=[SegmentOut.of(s) for s in b.segments],
            passengers=[
                PassengerOut(name=p.name, email=p.email, phone=p.phone) for p in b.passengers
            ],
            fare=FareOut.model_validate(b),
            amount_due=b.amount_due,
            currency=b.currency,
            discount_code=b.discount_code,
            expires_at=b.expires_at if b.status == "PENDING" else None,
            payment_id=b.payment_id,
            payment_in_progress=b.payment_in_progress,
            refunded_amount=b.refunded_amount,
            created_at=b.created_at,
            updated_at=b.updated_at,
            confirmed_at=b.confirmed_at,
            cancelled_at=b.cancelled_at,
            **extra,
        )


class BookingPage(CamelModel):
    items: list[BookingOut]
    next_cursor: str | None


# Internal calls (service token only) ---------------------------------------------------------


class InternalBookingOut(BookingOut):
    """What the payment and discount services see: the booking plus its raw deadline."""

    pending_expires_at: datetime


def internal_view(b: Booking) -> InternalBookingOut:
    return InternalBookingOut.of(b, pending_expires_at=b.expires_at)


class BookingState(CamelModel):
    """What the payment saga's steps answer: the booking's state, amount and deadline. Its
    flights, seats and passengers are not loaded for these steps (see `InternalBookingOut`)."""

    id: int
    reference: str
    user_id: int
    status: str
    status_reason: str | None
    amount_due: MoneyOut
    currency: str
    discount_code: str | None
    payment_id: int | None
    payment_in_progress: bool
    expires_at: datetime | None
    pending_expires_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None

    @classmethod
    def of(cls, b: Booking) -> Self:
        return cls(
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
            expires_at=b.expires_at if b.status == "PENDING" else None,
            pending_expires_at=b.expires_at,
            updated_at=b.updated_at,
            confirmed_at=b.confirmed_at,
        )


class PaymentStart(RequestModel):
    payment_id: Id
    amount: Amount
    user_id: Id


class PaymentRef(RequestModel):
    payment_id: Id
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class DiscountIn(RequestModel):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    discount: Amount


class DiscountOut(CamelModel):
    code: str
    discount: MoneyOut
    amount_before: MoneyOut
    amount_after: MoneyOut
    booking: BookingOut
