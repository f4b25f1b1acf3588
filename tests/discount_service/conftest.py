"""Discount service fixtures: the real booking stack (tests/booking_service/harness.py) and the
discount app wired to its booking service in-process."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from discount_service.config import DiscountSettings
from discount_service.main import build_app
from tests.booking_service.harness import (  # noqa: F401 (fixtures)
    Stack,
    StackFactory,
    flight_search_app,
    jwks_transport,
    new_flight,
    new_user,
    stacks,
)
from tests.conftest import app_client
from tests.helpers import bearer, eventually

# Small pools: the machine's Postgres is shared by several test runs.
SMALL_POOL = {"db_pool_size": 2, "db_max_overflow": 4}


@pytest.fixture(scope="session")
async def stack(stacks: StackFactory) -> Stack:  # noqa: F811
    return await stacks(seat=SMALL_POOL, booking=SMALL_POOL, payment=SMALL_POOL)


@dataclass
class Discounts:
    app: FastAPI
    client: httpx.AsyncClient
    admin: dict[str, str]

    async def create(self, **fields: Any) -> dict[str, Any]:
        """A new code (admin) with a unique name; the code as the API returns it."""
        body = {"code": f"T{uuid.uuid4().hex[:10]}", "kind": "flat", "value": "100", **fields}
        r = await self.client.post("/api/discounts", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return r.json()

    async def apply(self, headers: dict[str, str], booking_id: int, code: str) -> httpx.Response:
        return await self.client.post(
            "/api/discounts/apply", json={"bookingId": booking_id, "code": code}, headers=headers
        )

    async def code(self, code: str) -> dict[str, Any]:
        r = await self.client.get("/api/discounts", headers=self.admin)
        assert r.status_code == 200, r.text
        [found] = [c for c in r.json() if c["code"] == code.upper()]
        return found

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.app.state.db.engine.begin() as conn:
            result = await conn.execute(text(query), params)
            return list(result) if result.returns_rows else []

    async def redemptions(self, booking_id: int) -> list[Any]:
        return await self.sql(
            "SELECT r.status, c.code, r.amount FROM discounts.redemptions r "
            "JOIN discounts.codes c ON c.id = r.code_id WHERE r.booking_id = :b",
            b=booking_id,
        )

    async def consumed(self, event_type: str, booking_id: int) -> None:
        """Wait until the discount consumer has handled the booking's event of this type."""

        async def done() -> bool:
            rows = await self.sql(
                "SELECT 1 FROM bookings.outbox o JOIN discounts.processed_events p "
                "ON p.event_id = o.event_id AND p.consumer = 'discount' "
                "WHERE o.type = :t AND (o.payload->>'bookingId')::bigint = :b",
                t=event_type,
                b=booking_id,
            )
            return bool(rows)

        await eventually(done)


async def start_discount_app(
    jwks: httpx.AsyncBaseTransport,
    booking: httpx.AsyncBaseTransport,
    **settings: Any,
) -> tuple[FastAPI, AsyncIterator[httpx.AsyncClient]]:
    app = build_app(DiscountSettings(**{**SMALL_POOL, **settings}))
    app.state.jwks_transport = jwks
    app.state.transports = {"booking": booking}
    return app, app_client(app)


@pytest.fixture(scope="session")
async def discounts(
    stack: Stack,
    jwks_transport: httpx.AsyncBaseTransport,  # noqa: F811
    make_token: Callable[..., str],
) -> AsyncIterator[Discounts]:
    app, clients = await start_discount_app(
        jwks_transport, httpx.ASGITransport(app=stack.booking_app)
    )
    client = await anext(clients)
    admin = bearer(make_token(1, role="admin"))
    yield Discounts(app, client, admin)
    await clients.aclose()


Booked = Callable[..., Awaitable[tuple[dict[str, str], dict[str, Any]]]]


@pytest.fixture
def booked(stack: Stack, new_user: Callable[..., Any]) -> Booked:  # noqa: F811
    """`headers, booking = await booked()`: a fresh user's PENDING booking of one seat."""

    async def make(flight_id: int | None = None, seat: str = "12A") -> tuple[dict[str, str], Any]:
        _user_id, headers = new_user()
        booking = await stack.booked(headers, flight_id or await new_flight(), seat)
        return headers, booking

    return make
