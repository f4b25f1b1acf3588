"""Public request and response bodies (camelCase in JSON, snake_case in Python); the internal
routes' are contracts (`shared.contracts.seats`)."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import ConfigDict, Field, model_validator

from shared.contracts.seats import Id, SeatNumberIn
from shared.schemas import CamelModel, RequestModel

FlightId = Id


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
