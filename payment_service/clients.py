"""The booking service, as the payment saga sees it.

Every call here is idempotent on the booking side (keyed by the payment id), so each carries an
`Idempotency-Key` and `ServiceClient` may retry it. A 404 or 409 answer is a decision of the
booking service (`Relayed` keeps its code); anything else becomes 502/503/504.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from payment_service.errors import Relayed
from shared.errors import BadGateway, problem_extra, upstream_problem
from shared.http import ServiceClient, service_client


@dataclass(frozen=True)
class BookingView:
    id: int
    reference: str
    user_id: int
    status: str
    amount_due: Decimal
    currency: str
    expires_at: datetime
    payment_id: int | None
    payment_in_progress: bool
    flight_ids: list[int]

    @classmethod
    def parse(cls, body: Any) -> "BookingView":
        try:
            return cls(
                id=int(body["id"]),
                reference=str(body["reference"]),
                user_id=int(body["userId"]),
                status=str(body["status"]),
                amount_due=Decimal(str(body["amountDue"])),
                currency=str(body["currency"]),
                expires_at=datetime.fromisoformat(str(body["pendingExpiresAt"])),
                payment_id=int(body["paymentId"]) if body.get("paymentId") is not None else None,
                payment_in_progress=bool(body.get("paymentInProgress")),
                flight_ids=[int(f) for f in body.get("flightIds", [])],
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise BadGateway("booking service answered with an unexpected body") from exc


def relayed(response: httpx.Response) -> Relayed:
    body = upstream_problem(response)
    # Not a 422's `errors`: they name fields of this service's call, not of the payer's request.
    extra = {k: v for k, v in problem_extra(body).items() if k != "errors"}
    return Relayed(
        status=response.status_code,
        code=str(body.get("code") or "BOOKING_CONFLICT"),
        title=str(body.get("title") or "Booking refused"),
        detail=str(body.get("detail") or f"booking service answered {response.status_code}"),
        extra=extra,
    )


class BookingClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    def _view(self, response: httpx.Response) -> BookingView:
        if response.status_code == 200:
            return BookingView.parse(response.json())
        if response.status_code in (404, 409, 422):
            raise relayed(response)
        raise BadGateway(f"booking service answered {response.status_code}")

    async def get(self, booking_id: int) -> BookingView | None:
        response = await self.http.get(f"/internal/bookings/{booking_id}")
        if response.status_code == 404:
            return None
        return self._view(response)

    async def start_payment(
        self, *, booking_id: int, payment_id: int, amount: Decimal, user_id: int
    ) -> BookingView:
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/payment-started",
            json={"paymentId": payment_id, "amount": f"{amount:.2f}", "userId": user_id},
            headers={"Idempotency-Key": f"payment-started-{payment_id}"},
        )
        return self._view(response)

    async def payment_failed(self, *, booking_id: int, payment_id: int) -> None:
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/payment-failed",
            json={"paymentId": payment_id},
            headers={"Idempotency-Key": f"payment-failed-{payment_id}"},
        )
        if response.status_code not in (200, 404):
            raise BadGateway(f"booking service answered {response.status_code}")

    async def confirm(self, *, booking_id: int, payment_id: int) -> BookingView:
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/confirm",
            json={"paymentId": payment_id},
            headers={"Idempotency-Key": f"confirm-{payment_id}"},
        )
        return self._view(response)

    async def expire(self, *, booking_id: int) -> None:
        response = await self.http.post(
            f"/internal/bookings/{booking_id}/expire",
            headers={"Idempotency-Key": f"expire-{booking_id}"},
        )
        if response.status_code not in (200, 404):
            raise BadGateway(f"booking service answered {response.status_code}")


@dataclass
class Clients:
    bookings: BookingClient
    _http: tuple[ServiceClient, ...] = ()

    async def aclose(self) -> None:
        for http in self._http:
            await http.aclose()


def build_clients(state: Any) -> Clients:
    """The clients from the settings; `state.transports` (name -> transport) may override."""
    bookings = service_client(state, "booking")
    return Clients(bookings=BookingClient(bookings), _http=(bookings,))
