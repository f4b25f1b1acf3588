"""The booking service, as the ticket service sees it: GET /internal/bookings/{id}, or the
booking a `booking.confirmed` event carries (`shared.contracts.bookings`).

Either becomes a `BookingView`; anything unexpected from the service becomes a 502, never a 500
and never a guess.
"""

import logging
from typing import Any

from shared.contracts.bookings import CONFIRMED, BookingConfirmed, BookingDetails
from shared.http import ServiceClient, ServiceClients
from shared.upstream import parse_answer, upstream_error
from ticket_service.errors import BookingNotFound

log = logging.getLogger("ticket.clients")


class BookingView(BookingDetails):
    """The booking a ticket is issued for (and its snapshot)."""

    @property
    def confirmed(self) -> bool:
        return self.status == CONFIRMED


def booking_from_event(confirmed: BookingConfirmed) -> BookingView | None:
    """The booking a `booking.confirmed` event carries, or None when it carries none (published
    before the booking service sent it) or another booking's: then the booking is fetched."""
    if confirmed.booking is None:
        return None
    if confirmed.booking.id != confirmed.booking_id:
        log.warning("booking.confirmed of booking %s carries another", confirmed.booking_id)
        return None
    return BookingView.model_validate(confirmed.booking, from_attributes=True)


class BookingClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def get_booking(self, booking_id: int) -> BookingView:
        """Any booking, by id (service token); `BookingNotFound` if it does not exist."""
        response = await self.http.get(f"/internal/bookings/{booking_id}")
        if response.status_code == 404:
            raise BookingNotFound(f"Booking {booking_id} not found")
        if response.status_code != 200:
            raise upstream_error(response, service="booking")
        return parse_answer(response, BookingView, service="booking")


class Clients(ServiceClients):
    """The services the ticket service calls (`state.transports`, {"booking": transport}, may
    route them in-process)."""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.bookings = BookingClient(self.connect("booking"))
