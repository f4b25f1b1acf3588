"""Ticket service fixtures: the real ticket app on the booking saga's stack of real apps.

The booking, seat and payment apps come from tests/booking_service/harness.py (only the flight
search service is its documented stand-in); the ticket app calls the booking app in-process and
verifies tokens through the real auth app's JWKS. Its background loops are off: tests drive the
booking-event consumer by hand, so a test that expects to issue a ticket first is never beaten
to it by the consumer.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.exceptions import ResponseError
from sqlalchemy import text

from shared.events import EventConsumer
from tests.booking_service.harness import (  # noqa: F401 (fixtures)
    Stack,
    flight_search_app,
    jwks_transport,
    new_flight,
    new_user,
    service_headers,
    stack,
    stacks,
)
from tests.conftest import app_client
from ticket_service.config import TicketSettings
from ticket_service.main import build_app


@dataclass
class Tickets:
    app: FastAPI
    client: httpx.AsyncClient
    stack: Stack

    @property
    def consumer(self) -> EventConsumer:
        return self.app.state.consumer

    async def generate(
        self, headers: dict[str, str], booking_id: Any, *, body: Any = None
    ) -> httpx.Response:
        body = {"bookingId": booking_id} if body is None else body
        return await self.client.post("/api/tickets/generate", json=body, headers=headers)

    async def issued(self, headers: dict[str, str], booking_id: int) -> dict[str, Any]:
        r = await self.generate(headers, booking_id)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def confirmed_booking(
        self, headers: dict[str, str], *seats: str, flight_id: int | None = None, **flight: Any
    ) -> dict[str, Any]:
        """A real CONFIRMED booking: held, booked and paid through the real services."""
        flight.setdefault("airline_code", "AI")  # Air India: e-ticket prefix 098
        flight_id = flight_id or await new_flight(**flight)
        return await self.stack.paid(headers, flight_id, *(seats or ("12A",)))

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.app.state.db.engine.begin() as conn:
            result = await conn.execute(text(query), params)
            return list(result) if result.returns_rows else []

    async def consume(self) -> int:
        """Handle every booking event waiting for the consumer group."""
        handled = 0
        while (n := await self.consumer.read_once(block_ms=50)) > 0:
            handled += n
        return handled


@pytest.fixture(scope="session")
async def tickets(
    stack: Stack,  # noqa: F811 (fixture)
    jwks_transport: httpx.AsyncBaseTransport,  # noqa: F811 (fixture)
) -> AsyncIterator[Tickets]:
    app = build_app(TicketSettings(background_tasks=False))
    app.state.jwks_transport = jwks_transport
    app.state.transports = {"booking": httpx.ASGITransport(app=stack.booking_app)}
    async for client in app_client(app):
        consumer: EventConsumer = app.state.consumer
        for stream in consumer.streams:  # from now on: events of earlier tests are not ours
            try:
                await consumer.redis.xgroup_create(stream, consumer.group, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        yield Tickets(app, client, stack)


@pytest.fixture
def user(new_user: Callable[..., tuple[int, dict[str, str]]]) -> tuple[int, dict[str, str]]:  # noqa: F811
    return new_user()
