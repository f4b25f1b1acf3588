"""The booking service, as the discount service sees it (its `/internal/bookings` routes and
their contracts, `shared.contracts.bookings`).

Answers become values or this service's domain errors; anything unexpected becomes a 502.
"""

from decimal import Decimal
from typing import Any

from discount_service.errors import (
    BookingNotFound,
    BookingNotPending,
    DiscountAlreadyApplied,
    DiscountTooLarge,
    PaymentInProgress,
)
from shared.contracts.bookings import DiscountRequest, InternalBooking, Repriced
from shared.http import ServiceClient, ServiceClients
from shared.money import fmt
from shared.upstream import parse_answer, upstream_error

# The booking service's refusals of a repricing, passed on with the same code.
_REFUSALS = (
    BookingNotFound,
    BookingNotPending,
    PaymentInProgress,
    DiscountAlreadyApplied,
    DiscountTooLarge,
)


class BookingView(InternalBooking):
    """The booking, with what a discount is worked out on."""

    @property
    def gross(self) -> Decimal:
        """The amount before any discount."""
        gross: Decimal = self.fare.base + self.fare.taxes + self.fare.fees
        return gross


class BookingClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def get(self, booking_id: int) -> BookingView | None:
        response = await self.http.get(f"/internal/bookings/{booking_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise upstream_error(response, service="booking")
        return parse_answer(response, BookingView, service="booking")

    async def apply_discount(self, booking_id: int, *, code: str, discount: Decimal) -> Repriced:
        """Reprice the PENDING booking. Idempotent for the same code and amount (so retried)."""
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/discount",
            json=DiscountRequest(code=code, discount=discount).model_dump(
                mode="json", by_alias=True
            ),
            headers={"Idempotency-Key": f"discount-{booking_id}-{code}-{fmt(discount)}"},
        )
        if response.status_code == 200:
            return parse_answer(response, Repriced, service="booking")
        raise upstream_error(response, service="booking", refusals=_REFUSALS)


class Clients(ServiceClients):
    """The services the discount service calls (`state.transports`, {"booking": transport},
    may route them in-process)."""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.bookings = BookingClient(self.connect("booking"))
