"""Typed clients of the services the booking service calls: flights, seats, payments, auth.

Each turns the other service's answers into values or this service's domain errors; anything
unexpected becomes a 502 (never a 500, never a guess).
"""

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from booking_service.errors import (
    FlightCancelled,
    FlightNotFound,
    HoldExpired,
    HoldNotFound,
    SeatAlreadySold,
)
from shared.contracts.flights import FlightDocument
from shared.contracts.payments import Payment, RefundRequest
from shared.contracts.seats import ConfirmRequest, HoldDetail, HoldList, SoldSeatsRelease
from shared.errors import BadGateway, DomainError, problem_code
from shared.http import ServiceClient, ServiceClients
from shared.upstream import parse_answer, upstream_error

log = logging.getLogger("booking.clients")


class FlightInfo(FlightDocument):
    """A flight as this service prices and books it: the flight search service's document."""

    def cabin_of(self, seat_number: str) -> str | None:
        """The cabin a seat ("12A") is in, from the aircraft layout; None if not on it."""
        row_part, letter = seat_number[:-1], seat_number[-1:].upper()
        if not row_part.isdigit():
            return None
        row = int(row_part)
        for layout in self.aircraft.cabins:
            if layout.first_row <= row <= layout.last_row and letter in layout.letters:
                return layout.cabin
        return None


class HoldInfo(HoldDetail):
    """A seat hold as this service books from it: the seat service's `HoldDetail`."""

    @property
    def state(self) -> str:
        """`live`, `used` (confirmed into a sale) or `gone` (expired or released)."""
        if self.status == "confirmed":
            return "used"
        if self.status in ("expired", "released"):
            return "gone"
        return "live"


class FlightClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def get_flight(self, flight_id: int) -> FlightInfo:
        response = await self.http.get(f"/internal/flights/{flight_id}")
        if response.status_code == 404:
            raise FlightNotFound(f"Flight {flight_id} does not exist")
        if response.status_code != 200:
            raise upstream_error(response, service="flight-search")
        return parse_answer(response, FlightInfo, service="flight-search")


def _hold_path(hold_id: str) -> str:
    """`/internal/holds/<id>`, the id one escaped segment: a dot too, or the HTTP client would
    read the id "." as a dot segment and call `/internal/holds` (a 422, so a 502 here)."""
    return f"/internal/holds/{quote(hold_id, safe='').replace('.', '%2E')}"


class SeatClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def get_hold(self, hold_id: str) -> HoldInfo | None:
        response = await self.http.get(_hold_path(hold_id))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise upstream_error(response, service="seat")
        return parse_answer(response, HoldInfo, service="seat")

    async def find_holds(self, *, user_id: int, flight_id: int) -> list[HoldInfo] | None:
        """The user's holds on a flight, or None when the seat service cannot list them."""
        response = await self.http.get(
            "/internal/holds", params={"userId": user_id, "flightId": flight_id}
        )
        if response.status_code in (404, 405):
            return None
        if response.status_code != 200:
            raise upstream_error(response, service="seat")
        listed = parse_answer(response, HoldList, service="seat")
        return [HoldInfo.model_validate(hold, from_attributes=True) for hold in listed.holds]

    async def confirm_hold(self, *, hold_id: str, booking_id: int) -> None:
        """Sell the held seats to the booking (idempotent for the same booking). A refusal
        that names neither a sold seat nor a cancelled flight means the hold is over."""
        body = ConfirmRequest(booking_id=booking_id)
        response = await self.http.post(
            f"{_hold_path(hold_id)}/confirm",
            json=body.model_dump(mode="json", by_alias=True),
            headers={"Idempotency-Key": f"confirm-{hold_id}-{booking_id}"},
        )
        if response.status_code in (200, 201, 204):
            return
        if response.status_code == 404:
            raise HoldNotFound(f"Seat hold {hold_id} no longer exists")
        refusals = (SeatAlreadySold, FlightCancelled)
        error = upstream_error(response, service="seat", refusals=refusals)
        if isinstance(error, BadGateway) and response.status_code in (409, 410):
            raise HoldExpired(f"Seat hold {hold_id} expired before the booking was confirmed")
        raise error

    async def release_hold(self, *, hold_id: str) -> None:
        """Release a live hold; a hold that is already gone is fine."""
        response = await self.http.post(
            f"{_hold_path(hold_id)}/release",
            headers={"Idempotency-Key": f"release-{hold_id}"},
        )
        if response.status_code >= 400 and response.status_code not in (404, 409, 410):
            raise upstream_error(response, service="seat")

    async def release_seats(self, *, flight_id: int, seats: list[str], booking_id: int) -> None:
        """Give a booking's sold seats back (idempotent)."""
        body = SoldSeatsRelease(seats=seats, booking_id=booking_id)
        response = await self.http.post(
            f"/internal/flights/{flight_id}/seats/release",
            json=body.model_dump(mode="json", by_alias=True),
            headers={"Idempotency-Key": f"release-{flight_id}-{booking_id}"},
        )
        if response.status_code >= 400 and response.status_code != 404:
            raise upstream_error(response, service="seat")


@dataclass(frozen=True)
class Refund:
    """What cancelling a booking gave back: its payment in full, or nothing (no payment)."""

    payment_id: int | None
    amount: Decimal
    status: str


class PaymentClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def refund(self, *, booking_id: int, reason: str) -> Refund:
        """Refund the booking's payment in full (idempotent); no payment means nothing to do."""
        body = RefundRequest(booking_id=booking_id, reason=reason)
        response = await self.http.post(
            "/internal/payments/refund",
            json=body.model_dump(mode="json", by_alias=True),
            headers={"Idempotency-Key": f"refund-{booking_id}"},
        )
        if response.status_code == 404 and problem_code(response) == "PAYMENT_NOT_FOUND":
            log.warning("booking %s has no payment to refund", booking_id)
            return Refund(None, Decimal("0.00"), "NONE")
        if response.status_code != 200:
            raise upstream_error(response, service="payment")
        payment = parse_answer(response, Payment, service="payment")
        return Refund(payment.payment_id, payment.amount, payment.status)


class AuthClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def account_name(self, *, user_token: str) -> str | None:
        """The caller's name from the auth service, or None if it cannot be had."""
        try:
            response = await self.http.get("/api/auth/me", user_token=user_token)
        except DomainError:
            return None
        if response.status_code != 200:
            return None
        try:
            name = response.json().get("name")
        except (ValueError, AttributeError):
            return None
        return name.strip()[:100] if isinstance(name, str) and name.strip() else None


class Clients(ServiceClients):
    """The services the booking service calls (`state.transports`, name -> transport, may
    route them in-process)."""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.flights = FlightClient(self.connect("flight-search"))
        self.seats = SeatClient(self.connect("seat"))
        self.payments = PaymentClient(self.connect("payment"))
        self.auth = AuthClient(self.connect("auth"))
