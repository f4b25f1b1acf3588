"""The booking service, as the payment saga sees it (`shared.contracts.bookings`).

Every call here is idempotent on the booking side (keyed by the payment id), so each carries an
`Idempotency-Key` and `ServiceClient` may retry it. A 404, 409 or 422 answer is a decision of
the booking service (`Relayed` keeps its code); anything else becomes 502/503/504.
"""

from decimal import Decimal
from typing import Any

import httpx

from shared.contracts.bookings import BookingState, PaymentRef, PaymentStart
from shared.errors import BadGateway
from shared.http import ServiceClient, ServiceClients
from shared.upstream import parse_answer, upstream_error

# The saga needs the booking's state only: what its steps answer, and a part of GET
# /internal/bookings/{id} (every field of `BookingState` is in `InternalBooking`).
BookingView = BookingState


class BookingClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    def _view(self, response: httpx.Response) -> BookingView:
        if response.status_code == 200:
            return parse_answer(response, BookingView, service="booking")
        raise upstream_error(response, service="booking", relay=True)

    async def get(self, booking_id: int) -> BookingView | None:
        response = await self.http.get(f"/internal/bookings/{booking_id}")
        if response.status_code == 404:
            return None
        return self._view(response)

    async def start_payment(
        self, *, booking_id: int, payment_id: int, amount: Decimal, user_id: int
    ) -> BookingView:
        body = PaymentStart(payment_id=payment_id, amount=amount, user_id=user_id)
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/payment-started",
            json=body.model_dump(mode="json", by_alias=True),
            headers={"Idempotency-Key": f"payment-started-{payment_id}"},
        )
        return self._view(response)

    async def payment_failed(self, *, booking_id: int, payment_id: int) -> None:
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/payment-failed",
            json=_ref(payment_id),
            headers={"Idempotency-Key": f"payment-failed-{payment_id}"},
        )
        if response.status_code not in (200, 404):
            raise BadGateway(f"booking service answered {response.status_code}")

    async def confirm(self, *, booking_id: int, payment_id: int) -> BookingView:
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/confirm",
            json=_ref(payment_id),
            headers={"Idempotency-Key": f"confirm-{payment_id}"},
        )
        return self._view(response)


def _ref(payment_id: int) -> dict[str, Any]:
    """`{"paymentId": ...}`: no reason is sent (the booking knows why from the step)."""
    return PaymentRef(payment_id=payment_id).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )


class Clients(ServiceClients):
    """The services the payment service calls (`state.transports`, name -> transport, may
    route them in-process)."""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.bookings = BookingClient(self.connect("booking"))
