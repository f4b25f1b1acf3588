"""Request and response bodies (camelCase in JSON, snake_case in Python)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from shared.ids import BIGINT_MAX
from shared.schemas import CamelModel, RequestModel


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# JSON `true` is not flight 1; "42" and 42.0 are 42. The bounds come before the validator:
# after it, pydantic cannot put them in the JSON schema and writes a raw `ge`/`le` there.
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX), BeforeValidator(_not_bool)]
FlightId = Id
SeatNumberIn = Annotated[str, Field(min_length=1, max_length=8)]
BookingId = Annotated[
    Id | Annotated[str, Field(min_length=1, max_length=64)],
    Field(union_mode="left_to_right"),
]


def booking_out(value: str) -> int | str:
    return int(value) if value.isdigit() and len(value) < 19 else value


# Booking ids are stored as text; integer ids go back out as integers.
BookingOut = Annotated[str, PlainSerializer(booking_out)]


class LockRequest(RequestModel):
    """`{flightId, seatNumber}` or `{flightId, seatNumbers: [...]}`."""

    # Exactly one of the two, and not null; what each holds is the properties' own schema
    # (a branch that restated it, `{"type": "array"}`, let generators drop the item rules).
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["seatNumber"],
                    "properties": {"seatNumber": {"not": {"type": "null"}}},
                },
                {
                    "required": ["seatNumbers"],
                    "properties": {"seatNumbers": {"not": {"type": "null"}}},
                },
            ]
        }
    )
    flight_id: FlightId
    seat_number: SeatNumberIn | None = None
    seat_numbers: list[SeatNumberIn] | None = Field(default=None, min_length=1, max_length=50)
    user_id: Id | None = Field(default=None, description="Optional; must be the caller's own")

    @model_validator(mode="after")
    def _one_way_to_name_seats(self) -> "LockRequest":
        if (self.seat_number is None) == (self.seat_numbers is None):
            raise ValueError("give either seatNumber or seatNumbers")
        return self

    @property
    def requested(self) -> list[str]:
        return [self.seat_number] if self.seat_number is not None else list(self.seat_numbers or [])


class HoldRead(CamelModel):
    hold_id: UUID
    flight_id: int
    seats: list[str]
    expires_at: datetime


class HoldDetail(HoldRead):
    user_id: int
    status: Literal["held", "confirmed", "released", "expired"]
    created_at: datetime | None = None
    booking_id: BookingOut | None = None


class HoldList(CamelModel):
    holds: list[HoldDetail]


class SeatRead(CamelModel):
    seat_number: str
    cabin: str
    status: Literal["available", "held", "sold"]
    mine: bool


class CabinCounts(CamelModel):
    total: int
    available: int
    held: int
    sold: int


class SeatMapRead(CamelModel):
    flight_id: int
    flight_number: str
    departure_time: datetime
    flight_status: str
    aircraft: dict[str, str | None]
    seats: list[SeatRead]
    total: int
    available: int
    held: int
    sold: int
    by_cabin: dict[str, CabinCounts]


class ConfirmRequest(RequestModel):
    booking_id: BookingId


class SaleRead(CamelModel):
    hold_id: UUID
    flight_id: int
    booking_id: BookingOut
    seats: list[str]
    status: Literal["confirmed"] = "confirmed"
    sold_at: datetime


class SoldSeatsRelease(RequestModel):
    seats: list[SeatNumberIn] = Field(min_length=1, max_length=100)
    booking_id: BookingId


class SoldSeatsReleased(CamelModel):
    flight_id: int
    booking_id: BookingOut
    released: list[str]
    not_released: list[str]
    seats_available: int | None = None
    version: int | None = None
