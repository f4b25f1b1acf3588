"""The demo schedule generator (pure) and the seed step (into this run's database)."""

from collections import Counter
from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from flight_search_service.models import Flight, outbox
from flight_search_service.schedule import (
    DEMO_AIRPORTS,
    INDIA,
    SEED_FLIGHTS,
    base_fares,
    block_minutes,
    demo_schedule,
    distance_km,
    large_network,
    seed_flights,
    seed_flights_date,
    today_in_india,
)
from flight_search_service.seed import seed

TODAY = date(2031, 5, 14)  # a Wednesday


def test_demo_schedule_is_deterministic_and_moderate() -> None:
    flights = demo_schedule(today=TODAY, days=30)
    assert flights == demo_schedule(today=TODAY, days=30)
    assert flights != demo_schedule(today=TODAY, days=30, seed=1)
    assert 2_000 <= len(flights) <= 8_000
    keys = [(f.flight_number, f.departure_utc) for f in flights]
    assert len(keys) == len(set(keys))
    assert {f.origin for f in flights} | {f.destination for f in flights} == set(DEMO_AIRPORTS)
    days = {f.departure_utc.astimezone(INDIA).date() for f in flights}
    assert min(days) == TODAY and max(days) == TODAY + timedelta(days=29)
    for f in flights:
        assert f.arrival_utc > f.departure_utc and f.origin != f.destination
        assert f.fare_business is None or f.fare_business > f.fare_economy > 0
        assert (f.aircraft_code == "ATR72") == (f.fare_business is None)


def test_times_and_fares_follow_distance() -> None:
    assert 1_100 < distance_km("DEL", "BOM") < 1_200
    assert 110 <= block_minutes(distance_km("DEL", "BOM")) <= 140
    assert block_minutes(distance_km("DEL", "JAI")) < block_minutes(distance_km("DEL", "MAA"))
    near, far = base_fares(250), base_fares(2_000)
    assert near[0] < far[0] and near[1] > near[0]


def test_the_seed_flights() -> None:
    monday = seed_flights_date(TODAY)
    assert monday.weekday() == 0 and monday - TODAY >= timedelta(days=7)
    assert seed_flights_date(date(2031, 5, 12)) == date(2031, 5, 19)  # a Monday: 7 days on
    flights = seed_flights(monday)
    assert [f.flight_number for f in flights] == [f"AI{n}" for n in range(101, 151)]
    ai101 = flights[0]
    assert (ai101.origin, ai101.destination) == ("DEL", "BOM")
    assert ai101.departure_utc.astimezone(INDIA).isoformat() == f"{monday}T06:00:00+05:30"
    assert all(f.airline_name == "Air India" for f in flights)
    assert len(SEED_FLIGHTS) == 50
    # Part of the demo schedule.
    in_demo = {f.flight_number for f in demo_schedule(today=TODAY, days=30)}
    assert {f.flight_number for f in flights} <= in_demo


def test_large_network_for_the_benchmark() -> None:
    flights = large_network(start=TODAY, days=1, flights_per_day=3_000)
    assert len(flights) >= 3_000 * 0.95
    routes = Counter((f.origin, f.destination) for f in flights)
    assert len(routes) >= 300
    assert len({f.origin for f in flights}) >= 60


async def test_seed_is_searchable_and_idempotent(
    fs_app: FastAPI, client: httpx.AsyncClient, user: dict[str, str]
) -> None:
    await seed()
    async with fs_app.state.db.sessionmaker() as session:
        flights = await session.scalar(select(func.count()).select_from(Flight))
        events = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.type == "flight.created")
        )
    await seed()
    async with fs_app.state.db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Flight)) == flights
        assert (
            await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.type == "flight.created")
            )
            == events
        )

    monday = seed_flights_date(today_in_india())
    r = await client.get(
        "/api/flights/search",
        params={"source": "DEL", "destination": "BOM", "date": monday.isoformat(), "limit": 1000},
        headers=user,
    )
    assert r.status_code == 200, r.text
    itineraries = r.json()["itineraries"]
    numbers = [[s["flightNumber"] for s in i["segments"]] for i in itineraries]
    assert ["AI101"] in numbers
    ai101 = next(i for i in itineraries if i["segments"][0]["flightNumber"] == "AI101")
    assert ai101["stops"] == 0
    assert ai101["segments"][0]["departureTime"] == f"{monday}T06:00:00+05:30"
    # One-stop options on the seed's own flights, through several airports.
    via = {
        i["segments"][0]["destination"]
        for i in itineraries
        if i["stops"] == 1 and all(s["flightNumber"] in SEED_NUMBERS for s in i["segments"])
    }
    assert {"BLR", "HYD", "MAA", "GOI", "CCU", "AMD", "JAI"} <= via
    # And with the rest of the demo schedule, many more.
    assert sum(1 for i in itineraries if i["stops"] == 1) > len(via)


SEED_NUMBERS = {number for number, *_ in SEED_FLIGHTS}


@pytest.mark.parametrize("days", [1, 7])
def test_days_setting(days: int) -> None:
    flights = demo_schedule(today=TODAY, days=days)
    generated = [f for f in flights if f.flight_number not in SEED_NUMBERS]
    assert {f.departure_utc.astimezone(INDIA).date() for f in generated} == {
        TODAY + timedelta(days=d) for d in range(days)
    }
