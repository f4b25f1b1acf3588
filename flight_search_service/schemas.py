"""Request and response models (camelCase in JSON); the internal routes' and the events' are
contracts (`shared.contracts.flights`)."""

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import (
    AliasChoices,
    AwareDatetime,
    Field,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from flight_search_service.cache import MAX_PASSENGERS
from flight_search_service.itineraries import SortKey
from shared.contracts.flights import Aircraft, CabinName, Fares, FlightStatus
from shared.money import amount_within
from shared.schemas import CamelModel, RequestModel

# --- search (documents the JSON that search.py writes directly) ---------------------------


class Price(CamelModel):
    per_passenger: str
    total: str
    currency: str


class Segment(CamelModel):
    flight_id: int
    flight_number: str
    airline: str
    airline_code: str
    source: str
    destination: str
    departure_time: str = Field(description="Local time at the source, ISO 8601 with offset")
    arrival_time: str = Field(description="Local time at the destination, with offset")
    duration_minutes: int
    cabin: CabinName
    fare: str
    seats_available: int


class Itinerary(CamelModel):
    id: str = Field(description='Flight ids joined by "-": "57" direct, "12-57" one stop')
    stops: int
    duration_minutes: int
    layover_minutes: int
    seats_available: int
    price: Price
    segments: list[Segment]


class SearchResponse(CamelModel):
    itineraries: list[Itinerary]
    count: int = Field(description="Itineraries in this answer")
    total: int = Field(description="Itineraries found before `limit`")
    source: str
    destination: str
    date: str
    passengers: int
    cabin: CabinName
    max_stops: int
    sort: str


class RoundTripResponse(SearchResponse):
    """A one-way answer, and with `returnDate` the way back (destination -> source)."""

    return_itineraries: list[Itinerary] | None = Field(
        None, description="Only with returnDate: destination -> source on returnDate"
    )
    return_count: int | None = Field(None, description="Only with returnDate")
    return_total: int | None = Field(None, description="Only with returnDate")
    return_date: str | None = Field(None, description="Only with returnDate")


_SEARCH_CODE: JsonDict = {"pattern": "^[A-Za-z]{3}$"}
_SEARCH_DATE: JsonDict = {"format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


class SliceIn(RequestModel):
    """One leg of a multi-city journey (checked like the one-way search's parameters)."""

    source: str = Field(json_schema_extra=_SEARCH_CODE, examples=["DEL"])
    destination: str = Field(json_schema_extra=_SEARCH_CODE, examples=["BOM"])
    date: str = Field(json_schema_extra=_SEARCH_DATE, description="Local at the source")


class MultiSearchRequest(RequestModel):
    slices: list[SliceIn] = Field(
        min_length=2, max_length=6, description="Each dated no earlier than the one before"
    )
    passengers: int = Field(1, ge=1, le=MAX_PASSENGERS)
    cabin: CabinName = "economy"
    max_stops: int = Field(1, ge=0, le=1)
    sort: SortKey = "price"


class MultiSearchResponse(CamelModel):
    slices: list[SearchResponse] = Field(description="Each slice's one-way search answer")


# --- flights --------------------------------------------------------------------------------


class SeatsByCabin(CamelModel):
    economy: int
    business: int


class FlightOut(CamelModel):
    """A flight for travellers: local times at each airport."""

    id: int
    flight_id: int
    flight_number: str
    airline: str
    airline_code: str
    source: str
    destination: str
    departure_time: str
    arrival_time: str
    duration_minutes: int
    status: FlightStatus
    aircraft: Aircraft
    fares: Fares
    currency: str
    seats_available: int
    seats_by_cabin: SeatsByCabin


# A seat's fare: above 0 and at most 10 lakh INR, so that a booking's total (up to 9 seats on
# each of 4 flights, with GST and fees) fits the Numeric(10, 2) money columns. The bounds are
# in the JSON schema too (exclusiveMinimum, maximum).
MAX_FARE = Decimal("1000000.00")
if TYPE_CHECKING:  # mypy cannot follow a type built by a call: it sees the plain Decimal
    Fare = Decimal
else:
    Fare = amount_within(gt=0, le=MAX_FARE)


class FareInput(RequestModel):
    economy: Fare
    business: Fare | None = None


class FlightCreate(RequestModel):
    flight_number: str = Field(examples=["AI999"])
    airline: str | None = Field(None, max_length=100, description="Airline name")
    airline_code: str | None = Field(None, pattern=r"^[A-Z0-9]{2,3}$")
    origin: str = Field(validation_alias=AliasChoices("origin", "source"), examples=["DEL"])
    destination: str = Field(examples=["BOM"])
    departure_time: AwareDatetime = Field(description="ISO 8601 with offset")
    arrival_time: AwareDatetime | None = Field(
        None, description="Default: from the great-circle distance"
    )
    aircraft: str = Field("A320", max_length=10)
    fares: FareInput

    @field_validator("flight_number")
    @classmethod
    def _number(cls, v: str) -> str:
        v = v.strip().upper()
        if not re.fullmatch(r"[A-Z0-9]{2}\d{1,4}", v):
            raise ValueError("flightNumber must be an airline code and 1-4 digits, e.g. AI101")
        return v

    @field_validator("origin", "destination")
    @classmethod
    def _airport(cls, v: str) -> str:
        v = v.strip().upper()
        if len(v) != 3 or not v.isalpha():
            raise ValueError("must be a 3-letter IATA airport code")
        return v

    @field_validator("aircraft")
    @classmethod
    def _aircraft(cls, v: str) -> str:
        return v.strip().upper()

    @model_validator(mode="after")
    def _consistent(self) -> "FlightCreate":
        if self.origin == self.destination:
            raise ValueError("origin and destination must be different airports")
        if self.arrival_time is not None and self.arrival_time <= self.departure_time:
            raise ValueError("arrivalTime must be after departureTime")
        return self


class AirportOut(CamelModel):
    code: str
    name: str
    city: str
    country: str
    time_zone: str
    lat: float
    lon: float


class AirportList(CamelModel):
    airports: list[AirportOut]
    count: int
