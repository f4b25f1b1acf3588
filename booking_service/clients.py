"""Typed clients of the services the booking service calls: flights, seats, payments, auth.

Each turns the other service's answers into values or this service's domain errors; anything
unexpected becomes a 502 (never a 500, never a guess).
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, ValidationError, field_validator

from booking_service.errors import (
    FlightCancelled,
    FlightNotFound,
    HoldExpired,
    HoldNotFound,
    SeatAlreadySold,
)
from shared.errors import BadGateway, DomainError, problem_code
from shared.http import ServiceClient, service_client
from shared.money import Amount
from shared.schemas import CamelModel

log = logging.getLogger("booking.clients")


class CabinLayout(CamelModel):
    cabin: str
    first_row: int
    last_row: int
    letters: str

    @field_validator("letters", mode="before")
    @classmethod
    def _letters(cls, value: Any) -> Any:
        return "".join(value) if isinstance(value, list) else value

    @field_validator("cabin", mode="before")
    @classmethod
    def _cabin(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class Aircraft(CamelModel):
    code: str | None = None
    name: str | None = None
    cabins: list[CabinLayout]


class FlightInfo(CamelModel):
    flight_id: int
    flight_number: str
    airline: str = ""
    origin: str
    destination: str
    departure_time: datetime
    arrival_time: datetime
    status: str = "scheduled"
    aircraft: Aircraft
    fares: dict[str, Amount]
    currency: str = "INR"

    @field_validator("fares", mode="before")
    @classmethod
    def _fares(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k.lower(): v for k, v in value.items() if v is not None}  # no such cabin

    def cabin_of(self, seat_number: str) -> str | None:
        """The cabin a seat ("12A") is in, from the aircraft layout; None if not on it."""
        row_part, letter = seat_number[:-1], seat_number[-1:].upper()
        if not row_part.isdigit():
            return None
        row = int(row_part)
        for layout in self.aircraft.cabins:
            if layout.first_row <= row <= layout.last_row and letter in layout.letters.upper():
                return layout.cabin
        return None


class HoldInfo(CamelModel):
    hold_id: str
    flight_id: int
    user_id: int
    seats: list[str] = Field(min_length=1)
    expires_at: datetime
    status: str = "active"

    @field_validator("hold_id", mode="before")
    @classmethod
    def _hold_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @property
    def state(self) -> str:
        """`live`, `used` (confirmed into a sale) or `gone` (expired or released)."""
        status = self.status.lower()
        if status in {"confirmed", "sold", "used", "booked"}:
            return "used"
        if status in {"expired", "released", "cancelled", "canceled"}:
            return "gone"
        return "live"


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], response: httpx.Response, service: str) -> M:
    try:
        return model.model_validate(response.json())
    except (ValidationError, ValueError) as exc:
        log.error("unexpected answer from %s: %s", service, exc)
        raise BadGateway(f"{service} service answered with an unexpected body") from exc


def _unexpected(service: str, response: httpx.Response) -> BadGateway:
    return BadGateway(
        f"{service} service answered {response.status_code}",
        upstreamCode=problem_code(response),
    )


class FlightClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def get_flight(self, flight_id: int) -> FlightInfo:
        response = await self.http.get(f"/internal/flights/{flight_id}")
        if response.status_code == 404:
            raise FlightNotFound(f"Flight {flight_id} does not exist")
        if response.status_code != 200:
            raise _unexpected("flight search", response)
        return _parse(FlightInfo, response, "flight search")


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
            raise _unexpected("seat", response)
        return _parse(HoldInfo, response, "seat")

    async def find_holds(self, *, user_id: int, flight_id: int) -> list[HoldInfo] | None:
        """The user's holds on a flight, or None when the seat service cannot list them."""
        response = await self.http.get(
            "/internal/holds", params={"userId": user_id, "flightId": flight_id}
        )
        if response.status_code in (404, 405):
            return None
        if response.status_code != 200:
            raise _unexpected("seat", response)
        body = response.json()
        items = body.get("holds", body.get("items")) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise BadGateway("seat service answered with an unexpected body")
        try:
            return [HoldInfo.model_validate(item) for item in items]
        except ValidationError as exc:
            raise BadGateway("seat service answered with an unexpected body") from exc

    async def confirm_hold(self, *, hold_id: str, booking_id: int) -> None:
        """Sell the held seats to the booking (idempotent for the same booking)."""
        response = await self.http.post(
            f"{_hold_path(hold_id)}/confirm",
            json={"bookingId": booking_id},
            headers={"Idempotency-Key": f"confirm-{hold_id}-{booking_id}"},
        )
        if response.status_code in (200, 201, 204):
            return
        code = problem_code(response)
        if response.status_code == 404:
            raise HoldNotFound(f"Seat hold {hold_id} no longer exists")
        if response.status_code == 409 and code == "SEAT_ALREADY_SOLD":
            raise SeatAlreadySold("A held seat was sold to someone else")
        if response.status_code == 409 and code == "FLIGHT_CANCELLED":
            raise FlightCancelled("The flight was cancelled before the booking was confirmed")
        if response.status_code in (409, 410):
            raise HoldExpired(f"Seat hold {hold_id} expired before the booking was confirmed")
        raise _unexpected("seat", response)

    async def release_hold(self, *, hold_id: str) -> None:
        """Release a live hold; a hold that is already gone is fine."""
        response = await self.http.post(
            f"{_hold_path(hold_id)}/release",
            headers={"Idempotency-Key": f"release-{hold_id}"},
        )
        if response.status_code >= 400 and response.status_code not in (404, 409, 410):
            raise _unexpected("seat", response)

    async def release_seats(self, *, flight_id: int, seats: list[str], booking_id: int) -> None:
        """Give a booking's sold seats back (idempotent)."""
        response = await self.http.post(
            f"/internal/flights/{flight_id}/seats/release",
            json={"seats": seats, "bookingId": booking_id},
            headers={"Idempotency-Key": f"release-{flight_id}-{booking_id}"},
        )
        if response.status_code >= 400 and response.status_code != 404:
            raise _unexpected("seat", response)


@dataclass(frozen=True)
class Refund:
    payment_id: int | None
    amount: Decimal
    status: str


class PaymentClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def refund(self, *, booking_id: int, reason: str) -> Refund:
        """Refund the booking's payment in full (idempotent); no payment means nothing to do."""
        response = await self.http.post(
            "/internal/payments/refund",
            json={"bookingId": booking_id, "reason": reason},
            headers={"Idempotency-Key": f"refund-{booking_id}"},
        )
        if response.status_code == 404 and problem_code(response) == "PAYMENT_NOT_FOUND":
            log.warning("booking %s has no payment to refund", booking_id)
            return Refund(None, Decimal("0.00"), "NONE")
        if response.status_code != 200:
            raise _unexpected("payment", response)
        body = response.json()
        try:
            return Refund(int(body["paymentId"]), Decimal(str(body["amount"])), body["status"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise BadGateway("payment service answered with an unexpected body") from exc


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


@dataclass
class Clients:
    flights: FlightClient
    seats: SeatClient
    payments: PaymentClient
    auth: AuthClient
    _http: tuple[ServiceClient, ...] = ()

    async def aclose(self) -> None:
        for http in self._http:
            await http.aclose()


def build_clients(state: Any) -> Clients:
    """The clients from the settings; `state.transports` (name -> transport) may override."""
    flights = service_client(state, "flight-search")
    seats = service_client(state, "seat")
    payments = service_client(state, "payment")
    auth = service_client(state, "auth")
    return Clients(
        flights=FlightClient(flights),
        seats=SeatClient(seats),
        payments=PaymentClient(payments),
        auth=AuthClient(auth),
        _http=(flights, seats, payments, auth),
    )
