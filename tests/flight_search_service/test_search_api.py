"""GET /api/flights/search through HTTP: shape, rules, bad input, and the random-schedule
property once more through the endpoint and the database."""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight_search_service.itineraries import Leg
from flight_search_service.schedule import ScheduledFlight
from flight_search_service.schemas import SearchResponse
from tests.flight_search_service.conftest import at, far_day, flight
from tests.flight_search_service.reference import AIRPORTS, CODES, connections, legs_around
from tests.flight_search_service.reference import reference as brute_force
from tests.helpers import assert_problem

pytestmark = pytest.mark.usefixtures("fresh_cache")


async def search(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict:
    response = await client.get("/api/flights/search", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    SearchResponse.model_validate(body)  # the documented schema matches what is sent
    return body


async def test_direct_and_one_stop_with_local_times(
    client: httpx.AsyncClient, user: dict[str, str], insert: Callable[..., Any]
) -> None:
    day = far_day()
    ids = await insert(
        [
            flight("DEL", "BOM", at(day, "06:00", "DEL"), minutes=130, fare="5000"),
            flight("DEL", "HYD", at(day, "07:00", "DEL"), minutes=125, fare="4000"),
            flight("HYD", "BOM", at(day, "10:00", "HYD"), minutes=85, fare="3000"),
            flight("DEL", "DXB", at(day, "20:00", "DEL"), minutes=225, fare="9000"),
        ]
    )
    body = await search(client, user, source="del", destination="BOM", date=day.isoformat())
    assert body["source"] == "DEL" and body["destination"] == "BOM"
    assert body["date"] == day.isoformat() and body["passengers"] == 1
    assert body["count"] == len(body["itineraries"]) == 2
    direct, one_stop = body["itineraries"]  # sorted by price: 5000 < 7000
    assert direct["id"] == str(ids[0]) and direct["stops"] == 0
    assert direct["layoverMinutes"] == 0 and direct["durationMinutes"] == 130
    assert direct["price"] == {"perPassenger": "5000.00", "total": "5000.00", "currency": "INR"}
    seg = direct["segments"][0]
    assert seg["departureTime"] == f"{day.isoformat()}T06:00:00+05:30"
    assert seg["arrivalTime"] == f"{day.isoformat()}T08:10:00+05:30"
    assert seg["cabin"] == "economy" and seg["flightNumber"].startswith("ZZ")
    assert seg["source"] == "DEL" and seg["destination"] == "BOM"
    assert one_stop["id"] == f"{ids[1]}-{ids[2]}" and one_stop["stops"] == 1
    assert one_stop["layoverMinutes"] == 55 and one_stop["durationMinutes"] == 265
    assert one_stop["seatsAvailable"] == 168

    two = await search(
        client, user, source="DEL", destination="BOM", date=day.isoformat(), passengers=2
    )
    assert two["itineraries"][1]["price"]["total"] == "14000.00"
    direct_only = await search(
        client, user, source="DEL", destination="BOM", date=day.isoformat(), maxStops=0
    )
    assert [i["id"] for i in direct_only["itineraries"]] == [str(ids[0])]
    by_departure = await search(
        client, user, source="DEL", destination="BOM", date=day.isoformat(), sort="departure"
    )
    assert [i["id"] for i in by_departure["itineraries"]] == [direct["id"], one_stop["id"]]
    business = await search(
        client, user, source="DEL", destination="BOM", date=day.isoformat(), cabin="business"
    )
    assert business["cabin"] == "business"
    assert {s["cabin"] for i in business["itineraries"] for s in i["segments"]} == {"business"}
    assert business["itineraries"][0]["seatsAvailable"] == 8  # the A320's business cabin
    limited = await search(
        client, user, source="DEL", destination="BOM", date=day.isoformat(), limit=1
    )
    assert limited["count"] == 1 and limited["total"] == 2


async def test_search_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/flights/search", params={"source": "DEL", "destination": "BOM", "date": "2031-01-01"}
    )
    assert_problem(response, 401)


@pytest.mark.parametrize(
    ("params", "code", "where"),
    [
        ({"source": "ZZQ"}, "UNKNOWN_AIRPORT", "source"),
        ({"destination": "QQZ"}, "UNKNOWN_AIRPORT", "destination"),
        ({"source": "DE1"}, "INVALID_SEARCH", "source"),
        ({"destination": "BOMBAY"}, "INVALID_SEARCH", "destination"),
        ({"destination": "DEL"}, "INVALID_SEARCH", "destination"),
        ({"date": "2031-02-30"}, "INVALID_SEARCH", "date"),
        ({"date": "tomorrow"}, "INVALID_SEARCH", "date"),
        ({"date": "1700000000"}, "INVALID_SEARCH", "date"),
        ({"date": "2020-01-01"}, "INVALID_SEARCH", "date"),
        ({"date": "2099-01-01"}, "INVALID_SEARCH", "date"),
        ({"passengers": "0"}, "VALIDATION_FAILED", "passengers"),
        ({"passengers": "10"}, "VALIDATION_FAILED", "passengers"),
        ({"passengers": "two"}, "VALIDATION_FAILED", "passengers"),
        ({"maxStops": "2"}, "VALIDATION_FAILED", "maxStops"),
        ({"sort": "cheapest"}, "VALIDATION_FAILED", "sort"),
        ({"cabin": "first"}, "VALIDATION_FAILED", "cabin"),
        ({"limit": "0"}, "VALIDATION_FAILED", "limit"),
        ({"limit": "100000"}, "INVALID_SEARCH", "limit"),
        ({"source": None}, "VALIDATION_FAILED", "source"),
        ({"date": None}, "VALIDATION_FAILED", "date"),
    ],
)
async def test_bad_input_is_a_clear_422(
    client: httpx.AsyncClient, user: dict[str, str], params: dict, code: str, where: str
) -> None:
    query = {"source": "DEL", "destination": "BOM", "date": far_day().isoformat(), **params}
    query = {k: v for k, v in query.items() if v is not None}
    response = await client.get("/api/flights/search", params=query, headers=user)
    body = assert_problem(response, 422, code)
    assert where in body["detail"] or any(where in e["loc"] for e in body["errors"])
    assert body["errors"] and all({"loc", "message", "type"} <= e.keys() for e in body["errors"])


async def test_messages_say_what_is_wrong(client: httpx.AsyncClient, user: dict) -> None:
    async def detail(**params: Any) -> str:
        query = {"source": "DEL", "destination": "BOM", "date": far_day().isoformat(), **params}
        r = await client.get("/api/flights/search", params=query, headers=user)
        return r.json()["detail"]

    assert "Unknown source airport 'ZZQ'" in await detail(source="ZZQ")
    assert "different" in await detail(destination="del")
    assert "YYYY-MM-DD" in await detail(date="12/05/2031")
    assert "in the past" in await detail(date="2020-01-01")


async def test_today_is_allowed_at_the_origin(client: httpx.AsyncClient, user: dict) -> None:
    today = datetime.now(UTC).astimezone(AIRPORTS["KTM"]).date()
    body = await search(client, user, source="KTM", destination="LHR", date=today.isoformat())
    assert body["date"] == today.isoformat()


def _leg(f: ScheduledFlight, flight_id: int, seats: int, cancelled: bool) -> Leg:
    return Leg(
        flight_id,
        f.flight_number,
        f.airline_name,
        f.airline_code,
        f.origin,
        f.destination,
        f.departure_utc,
        f.arrival_utc,
        f.fare_economy,
        seats,
        cancelled,
    )


_endpoint_days = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_endpoint_matches_brute_force_on_random_schedules(
    data: st.DataObject,
    client: httpx.AsyncClient,
    user: dict[str, str],
    insert: Callable[..., Any],
    remove: Callable[..., Any],
) -> None:
    """Random flights (several time zones, across midnight) in the database; every searched
    pair answers exactly what the brute-force reference finds."""
    day = datetime.now(UTC).date() + timedelta(days=40 + next(_endpoint_days) % 25 * 3)
    origin = data.draw(st.sampled_from(CODES))
    destination = data.draw(st.sampled_from([c for c in CODES if c != origin]))
    legs = data.draw(legs_around(day, origin, destination, max_size=25))
    legs += data.draw(connections(day, origin, destination, len(legs) + 1, least=3))
    flights = [
        flight(
            leg.origin,
            leg.destination,
            leg.departure,
            minutes=int((leg.arrival - leg.departure).total_seconds() // 60),
            fare=str(leg.fare),
        )
        for leg in legs
    ]
    ids = await insert(
        flights,
        seats={i: leg.seats for i, leg in enumerate(legs)},
        cancelled={i for i, leg in enumerate(legs) if leg.cancelled},
    )
    try:
        stored = [
            _leg(f, i, leg.seats, leg.cancelled)
            for f, i, leg in zip(flights, ids, legs, strict=True)
        ]
        passengers = data.draw(st.sampled_from([1, 1, 1, 2, 4]))
        max_stops = data.draw(st.sampled_from([0, 1, 1]))
        tz = AIRPORTS[origin]
        # Search the local day at the origin that the flights are spread around, and the next.
        for search_day in (day, day + timedelta(days=1)):
            expected = brute_force(
                stored,
                origin=origin,
                destination=destination,
                day=search_day,
                tz=tz,
                now=datetime.now(UTC),
                passengers=passengers,
                max_stops=max_stops,
                min_connection=45,
                max_layover=720,
            )
            response = await client.get(
                "/api/flights/search",
                params={
                    "source": origin,
                    "destination": destination,
                    "date": search_day.isoformat(),
                    "passengers": passengers,
                    "maxStops": max_stops,
                    "limit": 1000,
                },
                headers={**user, "Cache-Control": "no-cache"},
            )
            assert response.status_code == 200, response.text
            got = {tuple(map(int, i["id"].split("-"))) for i in response.json()["itineraries"]}
            assert got == expected
    finally:
        await remove(ids)
