"""The booking service, as the discount service sees it (its `/internal/bookings` routes).

Answers become values or this service's domain errors; anything unexpected becomes a 502.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from discount_service.errors import (
    BookingNotFound,
    BookingNotPending,
    DiscountAlreadyApplied,
    DiscountTooLarge,
    PaymentInProgress,
)
from shared.errors import BadGateway, DomainError, problem_extra, upstream_problem
from shared.http import ServiceClient, service_client
from shared.money import Amount, fmt
from shared.schemas import CamelModel

log = logging.getLogger("discount.clients")

M = TypeVar("M", bound=BaseModel)


class Fare(CamelModel):
    base: Amount
    taxes: Amount
    fees: Amount
    discount: Amount
    total: Amount
    currency: str = "INR"


class BookingView(CamelModel):
    """The parts of a booking a discount needs."""

    id: int
    reference: str
    user_id: int
    status: str
    fare: Fare
    amount_due: Amount
    currency: str = "INR"
    discount_code: str | None = None
    payment_in_progress: bool = False

    @property
    def gross(self) -> Decimal:
        """The amount before any discount."""
        gross: Decimal = self.fare.base + self.fare.taxes + self.fare.fees
        return gross


class Repriced(CamelModel):
    code: str
    discount: Amount
    amount_before: Amount
    amount_after: Amount
    booking: BookingView


# The booking service's refusals, passed on with the same code.
_REFUSALS: dict[str, type[DomainError]] = {
    "BOOKING_NOT_FOUND": BookingNotFound,
    "BOOKING_NOT_PENDING": BookingNotPending,
    "PAYMENT_IN_PROGRESS": PaymentInProgress,
    "DISCOUNT_ALREADY_APPLIED": DiscountAlreadyApplied,
    "DISCOUNT_TOO_LARGE": DiscountTooLarge,
}


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate(response.json())
    except (ValidationError, ValueError) as exc:
        log.error("unexpected answer from the booking service: %s", exc)
        raise BadGateway("booking service answered with an unexpected body") from exc


@dataclass
class BookingClient:
    http: ServiceClient

    async def get(self, booking_id: int) -> BookingView | None:
        response = await self.http.get(f"/internal/bookings/{booking_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BadGateway(f"booking service answered {response.status_code}")
        return _parse(BookingView, response)

    async def apply_discount(self, booking_id: int, *, code: str, discount: Decimal) -> Repriced:
        """Reprice the PENDING booking. Idempotent for the same code and amount (so retried)."""
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/discount",
            json={"code": code, "discount": fmt(discount)},
            headers={"Idempotency-Key": f"discount-{booking_id}-{code}-{fmt(discount)}"},
        )
        if response.status_code == 200:
            return _parse(Repriced, response)
        problem = upstream_problem(response)
        refusal = _REFUSALS.get(str(problem.get("code")))
        if refusal is not None and 400 <= response.status_code < 500:
            detail = str(problem.get("detail") or refusal.title)
            raise refusal(detail, **problem_extra(problem))
        raise BadGateway(
            f"booking service answered {response.status_code}", upstreamCode=problem.get("code")
        )


@dataclass
class Clients:
    bookings: BookingClient
    _http: tuple[ServiceClient, ...] = ()

    async def aclose(self) -> None:
        for http in self._http:
            await http.aclose()


def build_clients(state: Any) -> Clients:
    """The clients from the settings; `state.transports` ({"booking": transport}) may override."""
    booking = service_client(state, "booking")
    return Clients(bookings=BookingClient(booking), _http=(booking,))
