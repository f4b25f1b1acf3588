"""The booking service, as the ticket service sees it: GET /internal/bookings/{id}, or the
booking a `booking.confirmed` event carries.

Either is parsed into `BookingView` (the fields a ticket needs, everything else ignored);
anything unexpected from the service becomes a 502, never a 500 and never a guess.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError

from shared.errors import BadGateway, problem_code
from shared.http import ServiceClient, service_client
from shared.money import Amount
from shared.schemas import CamelModel
from ticket_service.errors import BookingNotFound

log = logging.getLogger("ticket.clients")

CONFIRMED = "CONFIRMED"


class SegmentView(CamelModel):
    flight_id: int
    flight_number: str
    airline: str = ""
    origin: str
    destination: str
    departure_time: datetime
    arrival_time: datetime
    cabin: str
    seats: list[str] = Field(default_factory=list)


class SeatView(CamelModel):
    flight_id: int
    seat_number: str
    cabin: str
    fare: Amount
    tax: Amount
    passenger: str | None = None


class PassengerView(CamelModel):
    name: str
    email: str | None = None
    phone: str | None = None


class FareView(CamelModel):
    base: Amount
    taxes: Amount
    fees: Amount
    discount: Amount
    total: Amount
    currency: str = "INR"


class BookingView(CamelModel):
    id: int
    reference: str
    user_id: int
    status: str
    segments: list[SegmentView] = Field(min_length=1)
    seats: list[SeatView] = Field(min_length=1)
    passengers: list[PassengerView] = Field(default_factory=list)
    fare: FareView
    amount_due: Amount
    currency: str = "INR"
    discount_code: str | None = None
    confirmed_at: datetime | None = None
    # The booking service's whole answer, kept as the ticket's snapshot.
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @property
    def confirmed(self) -> bool:
        return self.status == CONFIRMED


def booking_from_event(payload: dict[str, Any]) -> BookingView | None:
    """The booking a `booking.confirmed` event carries (`booking`: as GET
    /internal/bookings/{id} shows it), or None when the event has none usable (published before
    the booking service sent it): then the booking is fetched."""
    body = payload.get("booking")
    if not isinstance(body, dict):
        return None
    try:
        view = BookingView.model_validate(body)
    except ValidationError as exc:
        log.warning("booking.confirmed with an unusable booking, fetching it: %s", exc)
        return None
    if str(view.id) != str(payload.get("bookingId")):
        log.warning("booking.confirmed of booking %s carries another", payload.get("bookingId"))
        return None
    view.raw = body
    return view


class BookingClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def get_booking(self, booking_id: int) -> BookingView:
        """Any booking, by id (service token); `BookingNotFound` if it does not exist."""
        response = await self.http.get(f"/internal/bookings/{booking_id}")
        if response.status_code == 404:
            raise BookingNotFound(f"Booking {booking_id} not found")
        if response.status_code != 200:
            raise BadGateway(
                f"booking service answered {response.status_code}",
                upstreamCode=problem_code(response),
            )
        try:
            body = response.json()
            view = BookingView.model_validate(body)
        except (ValidationError, ValueError) as exc:
            log.error("unexpected answer from the booking service: %s", exc)
            raise BadGateway("booking service answered with an unexpected body") from exc
        view.raw = body
        return view


@dataclass
class Clients:
    bookings: BookingClient
    _http: tuple[ServiceClient, ...] = ()

    async def aclose(self) -> None:
        for http in self._http:
            await http.aclose()


def build_clients(state: Any) -> Clients:
    """The clients from the settings; `state.transports` ({"booking": transport}) may override."""
    bookings = service_client(state, "booking")
    return Clients(bookings=BookingClient(bookings), _http=(bookings,))
