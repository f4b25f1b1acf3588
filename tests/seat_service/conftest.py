"""Seat service fixtures: the app against real Postgres and Redis, user tokens verified with
the auth service's JWKS (the real auth app, in-process), and a stand-in flight search service
that answers GET /internal/flights/{id} from `catalog`."""

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException

from seat_service.config import SeatSettings
from seat_service.flights import upsert_flight
from seat_service.main import build_app
from shared.contracts.flights import (
    Aircraft,
    CabinLayout,
    Fares,
    FlightCreated,
    FlightDocument,
    FlightStatus,
)
from shared.security import InvalidToken
from shared.service_identity import ServiceIdentity
from tests import helpers
from tests.conftest import REDIS_PREFIX, app_client

# Far above the ids the real flight search app hands out to other tests in the same run
# (whose flight.created events the seat consumer may also see).
_flight_ids = itertools.count(900_000_001)
_user_ids = itertools.count(5001)

# Flights the stand-in flight search service knows, by id.
catalog: dict[int, FlightDocument] = {}


def flight_document(
    flight_id: int | None = None,
    *,
    rows: tuple[int, int] = (1, 20),
    business_rows: tuple[int, int] | None = None,
    letters: str = "ABCDEF",
    business_letters: str = "ACDF",
    departs_in: timedelta = timedelta(days=3),
    status: FlightStatus = "scheduled",
) -> FlightCreated:
    """A `flight.created` payload (the flight search service's contract, its document)."""
    flight_id = flight_id if flight_id is not None else next(_flight_ids)
    departure = datetime.now(UTC) + departs_in
    arrival = departure + timedelta(hours=2)
    blocks = [("business", business_rows, business_letters)] if business_rows else []
    blocks.append(("economy", rows, letters))
    cabins = [
        CabinLayout(cabin=cabin, first_row=first, last_row=last, letters=seat_letters)
        for cabin, (first, last), seat_letters in blocks
    ]
    india = timezone(timedelta(hours=5, minutes=30))
    return FlightCreated(
        flight_id=flight_id,
        flight_number=f"AI{flight_id}",
        airline="Air India",
        airline_code="AI",
        origin="DEL",
        destination="BOM",
        departure_time=departure,
        arrival_time=arrival,
        departure_time_local=departure.astimezone(india),
        arrival_time_local=arrival.astimezone(india),
        origin_time_zone="Asia/Kolkata",
        destination_time_zone="Asia/Kolkata",
        duration_minutes=120,
        status=status,
        aircraft=Aircraft(code="A320", name="Airbus A320", cabins=cabins),
        fares=Fares(economy=Decimal("4500.00"), business=Decimal("12000.00")),
        currency="INR",
    )


def flight_search_stub() -> FastAPI:
    """The flight search service's internal flight documents, checking service tokens the way
    the real one does."""
    stub = FastAPI()
    flight_search_identity = ServiceIdentity(
        directory=Path(os.environ["SERVICE_KEYS_DIR"]), service="flight-search"
    )

    @stub.get("/internal/flights/{flight_id}")
    async def flight(flight_id: int, authorization: str = Header("")) -> dict[str, Any]:
        try:
            caller = flight_search_identity.verify(authorization.removeprefix("Bearer "))
            if caller != "seat":
                raise InvalidToken("not the seat service")
        except InvalidToken:
            raise HTTPException(403, "service token required") from None
        if flight_id not in catalog:
            raise HTTPException(404, "no such flight")
        return catalog[flight_id].model_dump(mode="json", by_alias=True)

    return stub


@pytest.fixture(scope="session")
async def jwks_transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The real auth service, running in-process, serving its JWKS."""
    from auth_service.main import app as auth_app

    async with asynccontextmanager(app_client)(auth_app):
        yield httpx.ASGITransport(app=auth_app)


SeatApp = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture(scope="session")
async def seat_apps(jwks_transport: httpx.AsyncBaseTransport) -> AsyncIterator[SeatApp]:
    """Start a seat app with settings overrides: `app, client = await seat_apps(**overrides)`.

    Every app started is shut down (gracefully, lifespan and all) at the end of the session."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
            # Small pools: Postgres' connections are shared with everything else on the machine.
            app = build_app(SeatSettings(**{"db_pool_size": 5, "db_max_overflow": 5, **overrides}))
            app.state.jwks_transport = jwks_transport
            app.state.transports = {"flight-search": httpx.ASGITransport(app=flight_search_stub())}
            client = await stack.enter_async_context(asynccontextmanager(app_client)(app))
            return app, client

        yield start


@pytest.fixture(scope="session")
async def seat(seat_apps: SeatApp) -> tuple[FastAPI, httpx.AsyncClient]:
    """The seat app most tests share (default settings, a fast sweeper)."""
    return await seat_apps(hold_sweep_seconds=0.5)


@pytest.fixture(scope="session")
def app(seat: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return seat[0]


@pytest.fixture(scope="session")
def client(seat: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return seat[1]


@pytest.fixture
def new_user(make_token: Callable[..., str]) -> Callable[..., tuple[int, dict[str, str]]]:
    """A fresh user id and its Authorization header."""

    def make(role: str = "user") -> tuple[int, dict[str, str]]:
        user_id = next(_user_ids)
        return user_id, {"Authorization": f"Bearer {make_token(user_id, role=role)}"}

    return make


@pytest.fixture
def service_headers() -> dict[str, str]:
    return helpers.service_headers("booking", "seat")


@pytest.fixture
def new_flight(app: FastAPI) -> Callable[..., Awaitable[int]]:
    """Store a flight through the same function the `flight.created` handler runs."""

    async def make(**kw: Any) -> int:
        document = flight_document(**kw)
        async with app.state.db.sessionmaker() as session, session.begin():
            await upsert_flight(session=session, document=document)
        return document.flight_id

    return make


async def flush_redis(redis: Any) -> int:
    """Delete every key of this test run (as if Redis had lost its data)."""
    keys = [k async for k in redis.scan_iter(match=f"{REDIS_PREFIX}*", count=1000)]
    if keys:
        await redis.unlink(*keys)
    return len(keys)


async def sold_twice(app: FastAPI) -> list[Any]:
    """(flight, seat) pairs sold more than once: must always be empty."""
    from sqlalchemy import text

    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT flight_id, seat_number, count(*) FROM seats.sold_seats "
                "GROUP BY flight_id, seat_number HAVING count(*) > 1"
            )
        )
        return list(rows)
