"""The seat service's contracts: its internal routes (the booking service's calls) and the
`seats.*` events.

    GET  /internal/holds/{id}                    HoldDetail
    GET  /internal/holds?userId=&flightId=       HoldList (the user's live holds)
    POST /internal/holds/{id}/confirm            ConfirmRequest -> SaleRead
    POST /internal/holds/{id}/release            HoldDetail
    POST /internal/flights/{id}/seats/release    SoldSeatsRelease -> SoldSeatsReleased
    seats.availability_changed                   AvailabilityChanged (flight search service)
    seats.sold_out                               SoldOut

The events' JSON `version` is the flight's availability version (a consumer drops an event
older than what it has), not the contract's: in Python it is `availability_version`.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field, PlainSerializer

from shared.contracts.events import EventPayload
from shared.contracts.flights import CabinName
from shared.ids import BIGINT_MAX
from shared.schemas import CamelModel, RequestModel

HoldStatus = Literal["held", "confirmed", "released", "expired"]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# JSON `true` is not flight 1; "42" and 42.0 are 42. The bounds come before the validator:
# after it, pydantic cannot put them in the JSON schema and writes a raw `ge`/`le` there.
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX), BeforeValidator(_not_bool)]
SeatNumberIn = Annotated[str, Field(min_length=1, max_length=8)]
BookingId = Annotated[
    Id | Annotated[str, Field(min_length=1, max_length=64)],
    Field(union_mode="left_to_right"),
]


def booking_out(value: str) -> int | str:
    return int(value) if value.isdigit() and len(value) < 19 else value


def _booking_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# Booking ids are stored as text; integer ids go back out as integers (and are read back).
BookingOut = Annotated[str, BeforeValidator(_booking_text), PlainSerializer(booking_out)]


def _hold_id(value: Any) -> Any:
    """The canonical text of a UUID: other services keep hold ids as opaque text."""
    if isinstance(value, UUID):
        return str(value)
    return str(UUID(value)) if isinstance(value, str) else value  # not a UUID: ValueError


HoldId = Annotated[str, BeforeValidator(_hold_id), Field(json_schema_extra={"format": "uuid"})]


class HoldDetail(CamelModel):
    """A hold as the booking service books from it; a held hold Redis no longer has shows
    `expired`."""

    hold_id: HoldId
    flight_id: int
    seats: list[str] = Field(min_length=1)
    expires_at: datetime
    user_id: int
    status: HoldStatus
    created_at: datetime | None = None
    booking_id: BookingOut | None = None


class HoldList(CamelModel):
    holds: list[HoldDetail]


class ConfirmRequest(RequestModel):
    """Sell the hold's seats to this booking (idempotent for the same booking)."""

    booking_id: BookingId


class SaleRead(CamelModel):
    hold_id: HoldId
    flight_id: int
    booking_id: BookingOut
    seats: list[str]
    status: Literal["confirmed"] = "confirmed"
    sold_at: datetime


class SoldSeatsRelease(RequestModel):
    """Put these seats, sold to this booking, back on sale (a cancellation)."""

    seats: list[SeatNumberIn] = Field(min_length=1, max_length=100)
    booking_id: BookingId


class SoldSeatsReleased(CamelModel):
    """What was released; with the availability after it when something was."""

    flight_id: int
    booking_id: BookingOut
    released: list[str]
    not_released: list[str]
    seats_available: int | None = None
    version: int | None = None


class AvailabilityChanged(EventPayload, type="seats.availability_changed"):
    """A flight's sold seats changed: `seats_total`, `seats_sold` of them; `by_cabin`, the
    seats left in each cabin the aircraft has."""

    flight_id: int
    flight_number: str
    seats_available: int
    seats_total: int
    seats_sold: int
    by_cabin: dict[CabinName, int]
    availability_version: int = Field(alias="version")


class SoldOut(EventPayload, type="seats.sold_out"):
    """No seat left in any cabin (after the availability change of the same version)."""

    flight_id: int
    flight_number: str
    availability_version: int = Field(alias="version")
