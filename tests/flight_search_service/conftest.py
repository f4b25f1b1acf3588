"""Flight search fixtures: the app on the run's database and Redis, user tokens verified with
the real auth service's JWKS (in-process), reference data loaded once, and factories."""

import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update

from flight_search_service.airports import load_reference_data
from flight_search_service.main import build_app
from flight_search_service.models import Availability, Flight
from flight_search_service.schedule import ScheduledFlight, make_flight, point
from flight_search_service.service import insert_flights
from tests.conftest import REDIS_PREFIX, app_client
from tests.helpers import bearer, service_headers

# Flight numbers made by tests: "ZZ" + a counter, never clashing with the demo schedule.
_numbers = itertools.count(1)
# Far-future days handed out one per test so tests never see each other's flights (120 to
# 358 days ahead; the endpoint property test uses 40 to 112).
_days = itertools.count()


def next_number(prefix: str = "ZZ") -> str:
    return f"{prefix}{next(_numbers)}"


def far_day() -> date:
    """A day no other test uses, well beyond the demo schedule."""
    return datetime.now(UTC).date() + timedelta(days=120 + next(_days) % 120 * 2)


def new_flight(**overrides: Any) -> dict[str, Any]:
    """The body of a POST /api/flights (admin): DEL-GOI on a far day of its own."""
    day = far_day()
    return {
        "flightNumber": next_number("AI"),
        "airline": "Air India",
        "origin": "DEL",
        "destination": "GOI",
        "departureTime": f"{day.isoformat()}T09:15:00+05:30",
        "aircraft": "A320",
        "fares": {"economy": "4500.00", "business": 12000},
        **overrides,
    }


def at(day: date, hhmm: str, airport: str) -> datetime:
    """A local time at an airport -> aware UTC datetime."""
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(day, time(h, m), tzinfo=point(airport).tz).astimezone(UTC)


def flight(
    origin: str,
    destination: str,
    departure: datetime,
    *,
    minutes: int | None = None,
    number: str | None = None,
    fare: str | None = None,
    aircraft: str = "A320",
) -> ScheduledFlight:
    f = make_flight(
        number=number or next_number(),
        airline="AI",
        origin=origin,
        destination=destination,
        departure_utc=departure,
        aircraft=aircraft,
    )
    changes: dict[str, Any] = {}
    if minutes is not None:
        changes["arrival_utc"] = departure + timedelta(minutes=minutes)
    if fare is not None:
        changes["fare_economy"] = Decimal(fare)
    return dataclasses.replace(f, **changes)


@pytest.fixture(scope="session")
async def jwks_transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The real auth service, running in-process, serving its JWKS."""
    from auth_service.main import app as auth_app

    async for _client in app_client(auth_app):
        yield httpx.ASGITransport(app=auth_app)


@pytest.fixture(scope="session")
async def fs_app(jwks_transport: httpx.AsyncBaseTransport) -> AsyncIterator[FastAPI]:
    """The flight search app, lifespan running (relay and consumer included)."""
    app = build_app()
    app.state.jwks_transport = jwks_transport
    async for client in app_client(app):
        app.state.test_client = client
        async with app.state.db.sessionmaker() as session:
            await load_reference_data(session=session)
            await session.commit()
        yield app


@pytest.fixture(scope="session")
def client(fs_app: FastAPI) -> httpx.AsyncClient:
    return fs_app.state.test_client


@pytest.fixture
def user(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(4242))


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(1, role="admin"))


@pytest.fixture
def service_auth() -> dict[str, str]:
    return service_headers("booking", "flight-search")


@pytest.fixture
def insert(fs_app: FastAPI) -> Callable[..., Any]:
    """`ids = await insert([flights], seats={index: n}, cancelled={index})`: straight into the
    database (no events), availability set per flight when given."""

    async def run(
        flights: Sequence[ScheduledFlight],
        *,
        seats: dict[int, int] | None = None,
        cancelled: set[int] | frozenset[int] = frozenset(),
    ) -> list[int]:
        async with fs_app.state.db.sessionmaker() as session:
            ids = await insert_flights(
                session=session, flights=flights, airports=fs_app.state.airports, events=False
            )
            assert len(ids) == len(flights)
            for index, n in (seats or {}).items():
                await session.execute(
                    update(Availability)
                    .where(Availability.flight_id == ids[index])
                    .values(seats_economy=n, seats_available=n)
                )
            if cancelled:
                await session.execute(
                    update(Flight)
                    .where(Flight.id.in_([ids[i] for i in cancelled]))
                    .values(status="cancelled")
                )
            await session.commit()
        return ids

    return run


@pytest.fixture
def remove(fs_app: FastAPI) -> Callable[..., Any]:
    async def run(ids: Sequence[int]) -> None:
        async with fs_app.state.db.sessionmaker() as session:
            await session.execute(delete(Flight).where(Flight.id.in_(list(ids))))
            await session.commit()

    return run


@pytest.fixture
async def fresh_cache(fs_app: FastAPI) -> None:
    """No cached search results (API test modules use it for every test)."""
    redis = fs_app.state.redis
    keys = [k async for k in redis.scan_iter(match=f"{REDIS_PREFIX}{{search}}:*", count=1000)]
    if keys:
        await redis.unlink(*keys)
