"""The booking saga's test stack: real apps wired together in-process.

auth (its JWKS verifies the tokens `make_token` mints), flight search, seat, booking and payment
are the real apps on the run's Postgres database and Redis prefix, each calling the next through
`httpx.ASGITransport`. Flights are created and cancelled through the flight search service's
admin API (an A321: business rows 1-3 ACDF, economy 4-34 ABCDEF). The mock card gateway is part
of the payment service (its own table), so nothing is mocked.
"""

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from booking_service.config import BookingSettings
from booking_service.main import build_app as build_booking_app
from flight_search_service.airports import load_reference_data
from flight_search_service.config import FlightSearchSettings
from flight_search_service.main import build_app as build_flight_search_app
from payment_service.config import PaymentSettings
from payment_service.main import build_app as build_payment_app
from seat_service.config import SeatSettings
from seat_service.main import build_app as build_seat_app
from tests import helpers
from tests.conftest import REDIS_PREFIX, app_client
from tests.helpers import SUCCESS_CARD, bearer

_flight_numbers = itertools.count(1)
_user_ids = itertools.count(71_001)

# The flight search app of the session, and an administrator's headers for it.
flight_search: dict[str, Any] = {}


async def new_flight(
    *,
    origin: str = "DEL",
    destination: str = "BOM",
    departs_in: timedelta = timedelta(days=3),
    duration: timedelta = timedelta(hours=2),
    economy: str = "4500.00",
    business: str = "12000.00",
    airline_code: str = "QB",
    airline: str | None = None,
) -> int:
    """A new flight (an A321), created by an administrator through the flight search API."""
    departure = datetime.now(UTC).replace(microsecond=0) + departs_in
    r = await flight_search["client"].post(
        "/api/flights",
        json={
            "flightNumber": f"{airline_code}{next(_flight_numbers)}",
            "airline": airline,
            "origin": origin,
            "destination": destination,
            "departureTime": departure.isoformat(),
            "arrivalTime": (departure + duration).isoformat(),
            "aircraft": "A321",
            "fares": {"economy": economy, "business": business},
        },
        headers=flight_search["admin"],
    )
    assert r.status_code == 201, r.text
    return r.json()["flightId"]


async def reprice(flight_id: int, *, economy: str) -> None:
    """The airline changes a fare (no API for it: straight into the flight catalog)."""
    async with flight_search["app"].state.db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE flights.flights SET fare_economy = :f WHERE id = :id"),
            {"f": Decimal(economy), "id": flight_id},
        )


async def cancel_flight(flight_id: int) -> None:
    """An administrator cancels the flight (the flight service publishes `flight.cancelled`)."""
    r = await flight_search["client"].post(
        f"/api/flights/{flight_id}/cancel", headers=flight_search["admin"]
    )
    assert r.status_code == 200, r.text


class FaultyTransport(httpx.AsyncBaseTransport):
    """Passes requests on, except that paths containing one of `failing` cannot connect."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.failing: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if any(part in request.url.path for part in self.failing):
            raise httpx.ConnectError("injected fault: connection refused", request=request)
        return await self.inner.handle_async_request(request)


@dataclass
class Stack:
    seat_app: FastAPI
    booking_app: FastAPI
    payment_app: FastAPI
    seats: httpx.AsyncClient
    bookings: httpx.AsyncClient
    payments: httpx.AsyncClient
    # The payment service's way to the booking service, where tests can inject faults.
    booking_link: FaultyTransport
    _lifespans: list[Any]

    async def close(self) -> None:
        """Stop the apps (their background loops too)."""
        while self._lifespans:
            await self._lifespans.pop().aclose()

    # Journeys ----------------------------------------------------------------------------

    async def hold(self, headers: dict[str, str], flight_id: int, *seats: str) -> dict[str, Any]:
        r = await self.seats.post(
            "/api/seats/lock",
            json={"flightId": flight_id, "seatNumbers": list(seats)},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def book(self, headers: dict[str, str], **body: Any) -> httpx.Response:
        return await self.bookings.post("/api/bookings", json=body, headers=headers)

    async def booked(
        self, headers: dict[str, str], flight_id: int, *seats: str, **body: Any
    ) -> dict[str, Any]:
        """Hold the seats and book them: the PENDING booking."""
        hold = await self.hold(headers, flight_id, *seats)
        if len(seats) > 1 and "passengers" not in body:
            body["passengers"] = [{"name": f"Passenger {i + 1}"} for i in range(len(seats))]
        r = await self.book(headers, holdIds=[hold["holdId"]], **body)
        assert r.status_code == 201, r.text
        return r.json()

    async def pay(
        self,
        headers: dict[str, str],
        booking: dict[str, Any],
        *,
        card: dict[str, Any] | None = None,
        amount: Any = None,
        key: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "bookingId": booking["id"],
            "amount": booking["amountDue"] if amount is None else amount,
            **extra,
        }
        if card is not None:
            body["card"] = card
        hdrs = {**headers, **({"Idempotency-Key": key} if key else {})}
        return await self.payments.post("/api/payments/pay", json=body, headers=hdrs)

    async def paid(self, headers: dict[str, str], flight_id: int, *seats: str) -> dict[str, Any]:
        booking = await self.booked(headers, flight_id, *seats)
        r = await self.pay(headers, booking, card=SUCCESS_CARD)
        assert r.status_code == 201, r.text
        return await self.booking(headers, booking["id"])

    async def booking(self, headers: dict[str, str], booking_id: int) -> dict[str, Any]:
        r = await self.bookings.get(f"/api/bookings/{booking_id}", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def seat_status(self, headers: dict[str, str], flight_id: int) -> dict[str, str]:
        r = await self.seats.get(f"/api/seats/{flight_id}", headers=headers)
        assert r.status_code == 200, r.text
        return {s["seatNumber"]: s["status"] for s in r.json()["seats"]}

    # Background work, driven by hand -----------------------------------------------------

    async def sweep_bookings(self) -> dict[str, int]:
        from booking_service import lifecycle

        state = self.booking_app.state
        return await lifecycle.sweep_once(sessionmaker=state.db.sessionmaker, clients=state.clients)

    async def recover_payments(self, stuck_after_seconds: float = 0.0) -> int:
        from payment_service import recovery as service

        state = self.payment_app.state
        return await service.recover_once(
            sessionmaker=state.db.sessionmaker,
            clients=state.clients,
            gateway=state.gateway,
            stuck_after_seconds=stuck_after_seconds,
        )

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.payment_app.state.db.engine.begin() as conn:
            result = await conn.execute(text(query), params)
            return list(result) if result.returns_rows else []

    async def charges(self, booking_id: int) -> list[Any]:
        """The mock gateway's successful charges for a booking (refunded or not)."""
        return await self.sql(
            "SELECT c.id, c.refund_id FROM payments.gateway_charges c "
            "JOIN payments.payments p ON p.id = c.payment_id "
            "WHERE p.booking_id = :b AND c.status = 'succeeded'",
            b=booking_id,
        )

    async def events(self, booking_id: int) -> list[str]:
        """The event types both services recorded for a booking, in order."""
        rows = await self.sql(
            "SELECT type, created_at, id FROM bookings.outbox "
            "WHERE (payload->>'bookingId')::bigint = :b "
            "UNION ALL SELECT type, created_at, id FROM payments.outbox "
            "WHERE (payload->>'bookingId')::bigint = :b ORDER BY 2, 3",
            b=booking_id,
        )
        return [r.type for r in rows]

    async def payments_of(self, booking_id: int) -> list[Any]:
        return await self.sql(
            "SELECT id, status, settled, amount FROM payments.payments WHERE booking_id = :b "
            "ORDER BY id",
            b=booking_id,
        )


async def run_out(stack: Stack, hold: dict[str, Any]) -> None:
    """Make a hold's Redis keys vanish, as when its TTL passes (before `expiresAt` here)."""
    tag = f"{{flight:{hold['flightId']}}}"
    keys = [f"{REDIS_PREFIX}seat:{tag}:{seat}" for seat in hold["seats"]]
    keys.append(f"{REDIS_PREFIX}hold:{tag}:{hold['holdId']}")
    await stack.seat_app.state.redis.delete(*keys)


# Fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def jwks_transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The real auth service, in-process, serving the JWKS that verifies `make_token`'s tokens."""
    from auth_service.main import app as auth_app

    async for _client in app_client(auth_app):
        yield httpx.ASGITransport(app=auth_app)


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture(scope="session")
async def flight_search_app(
    jwks_transport: httpx.AsyncBaseTransport, make_token: Callable[..., str]
) -> AsyncIterator[FastAPI]:
    """The real flight search service, its airports and aircraft loaded (as `make seed` does)."""
    app = build_flight_search_app(FlightSearchSettings())
    app.state.jwks_transport = jwks_transport
    async for client in app_client(app):
        async with app.state.db.sessionmaker() as session:
            await load_reference_data(session=session)
            await session.commit()
        admin = bearer(make_token(1, role="admin"))
        flight_search.update(app=app, client=client, admin=admin)
        yield app


@pytest.fixture(scope="session")
async def stacks(
    jwks_transport: httpx.AsyncBaseTransport, flight_search_app: FastAPI
) -> AsyncIterator[StackFactory]:
    """`await stacks(seat={...}, booking={...}, payment={...})`: a wired stack of apps."""
    started: list[Stack] = []

    async def start(
        *,
        seat: dict[str, Any] | None = None,
        booking: dict[str, Any] | None = None,
        payment: dict[str, Any] | None = None,
    ) -> Stack:
        # Few idle connections per app: several stacks (and other test runs) share one server.
        pool = {"db_pool_size": 2, "db_max_overflow": 20}
        seat_app = build_seat_app(
            SeatSettings(**{**pool, "hold_sweep_seconds": 0.5, **(seat or {})})
        )
        booking_app = build_booking_app(
            BookingSettings(**{**pool, "booking_sweep_seconds": 0.5, **(booking or {})})
        )
        payment_app = build_payment_app(
            PaymentSettings(**{**pool, "payment_recovery_seconds": 1.0, **(payment or {})})
        )
        flights = httpx.ASGITransport(app=flight_search_app)
        for app in (seat_app, booking_app, payment_app):
            app.state.jwks_transport = jwks_transport
        seat_app.state.transports = {"flight-search": flights}
        booking_app.state.transports = {
            "flight-search": flights,
            "seat": httpx.ASGITransport(app=seat_app),
            "payment": httpx.ASGITransport(app=payment_app),
            "auth": jwks_transport,
        }
        booking_link = FaultyTransport(httpx.ASGITransport(app=booking_app))
        payment_app.state.transports = {"booking": booking_link}
        clients, lifespans = [], []
        for app in (seat_app, booking_app, payment_app):
            gen = app_client(app)
            clients.append(await anext(gen))
            lifespans.append(gen)
        stack = Stack(
            seat_app,
            booking_app,
            payment_app,
            *clients,
            booking_link=booking_link,
            _lifespans=lifespans,
        )
        started.append(stack)
        return stack

    yield start
    for stack in reversed(started):
        await stack.close()


@pytest.fixture(scope="session")
async def stack(stacks: StackFactory) -> Stack:
    """The stack most tests share (default settings)."""
    return await stacks()


@pytest.fixture
def new_user(make_token: Callable[..., str]) -> Callable[..., tuple[int, dict[str, str]]]:
    """A fresh user id and its Authorization header."""

    def make(role: str = "user") -> tuple[int, dict[str, str]]:
        user_id = next(_user_ids)
        token = make_token(user_id, role=role, email=f"user{user_id}@example.com")
        return user_id, bearer(token)

    return make


@pytest.fixture
def service_headers() -> dict[str, str]:
    return helpers.service_headers("payment", "booking")
