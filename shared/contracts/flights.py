"""The flight search service's contracts: a flight as other services read it, and its events.

    GET /internal/flights/{id}       FlightDocument            (booking and seat services)
    GET /internal/flights?ids=...    FlightDocuments
    flight.created                   FlightCreated: the document (seat service)
    flight.cancelled                 FlightCancelled           (seat, booking)

Times keep the format they have always had on the wire: ISO 8601 with the offset written out
(`+00:00` for UTC, `+05:30` for a local time at the airport), not pydantic's `Z`.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, PlainSerializer

from shared.contracts.events import EventPayload
from shared.money import Amount
from shared.schemas import CamelModel

CabinName = Literal["economy", "business"]
FlightStatus = Literal["scheduled", "cancelled"]
SCHEDULED: FlightStatus = "scheduled"
CANCELLED: FlightStatus = "cancelled"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# An instant, in UTC once parsed; written "2030-01-01T04:30:00+00:00".
UtcTime = Annotated[AwareDatetime, AfterValidator(_utc), PlainSerializer(_iso, return_type=str)]
# The same instant at an airport, its offset kept: "2030-01-01T10:00:00+05:30".
LocalTime = Annotated[AwareDatetime, PlainSerializer(_iso, return_type=str)]


class CabinLayout(CamelModel):
    """A block of rows with the same seat letters (rows 1-3, seats A, C, D, F)."""

    cabin: CabinName
    first_row: int = Field(ge=1, le=999)
    last_row: int = Field(ge=1, le=999)
    letters: str = Field(pattern=r"^[A-Z]+$")


class Aircraft(CamelModel):
    """The aircraft and its seat layout: the seat service builds its seat maps from it."""

    code: str
    name: str
    cabins: list[CabinLayout]


class Fares(CamelModel):
    """One seat's base fare per cabin; `business` is None when the aircraft has no such cabin."""

    economy: Amount
    business: Amount | None

    def get(self, cabin: str) -> Decimal | None:
        """A cabin's fare by name; None for a cabin the flight does not sell."""
        by_cabin: dict[str, Decimal | None] = {"economy": self.economy, "business": self.business}
        return by_cabin.get(cabin)


class FlightDocument(CamelModel):
    """A flight for other services: UTC times, plus local times and zones for display."""

    flight_id: int
    flight_number: str
    airline: str
    airline_code: str
    origin: str
    destination: str
    departure_time: UtcTime
    arrival_time: UtcTime
    departure_time_local: LocalTime
    arrival_time_local: LocalTime
    origin_time_zone: str
    destination_time_zone: str
    duration_minutes: int
    status: FlightStatus
    aircraft: Aircraft
    fares: Fares
    currency: str


class FlightDocuments(CamelModel):
    """Several flights at once; `missing`: the ids asked for that name no flight."""

    flights: list[FlightDocument]
    missing: list[int]


class FlightCreated(EventPayload, FlightDocument, type="flight.created"):
    """A new flight: its document, as GET /internal/flights/{id} answers it."""


class FlightCancelled(EventPayload, type="flight.cancelled"):
    """A flight is cancelled, for good: no more holds or bookings, its bookings refunded."""

    flight_id: int
    flight_number: str
    departure_time: UtcTime
    origin: str
    destination: str
