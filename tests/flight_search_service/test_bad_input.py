"""Bad input to the flight search routes is a 422 problem naming the field, never a 500.

GET /api/airports?q=%00 reached Postgres (which refuses NUL in text): a 500. POST /api/flights
(admin) took fares through an amount type that raised decimal.InvalidOperation on 1e26.
"""

import json
from typing import Any

import httpx
import pytest

from tests.flight_search_service.conftest import new_flight
from tests.helpers import INSANE_AMOUNTS, assert_problem

# A fare is at most 10 lakh: at the money columns' 99,999,999.99 a booking's total overflowed
# Numeric(10, 2) (a 500 at booking time).
TOO_HIGH_FARES = ["1000000.01", 99999999.99, "99999999.99"]


@pytest.mark.parametrize("query", ["q=%00", "q=DE%00", "q=%00DEL", "q=Mum%0Abai", "q=%1B"])
async def test_a_control_character_in_the_airport_query_is_422(
    client: httpx.AsyncClient, user: dict, query: str
) -> None:
    r = await client.get(f"/api/airports?{query}", headers=user)
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["query", "q"]
    assert body["errors"][0]["type"] == "control_character"


async def test_a_normal_airport_query_still_answers(client: httpx.AsyncClient, user: dict) -> None:
    r = await client.get("/api/airports", params={"q": "del"}, headers=user)
    assert r.status_code == 200 and "DEL" in [a["code"] for a in r.json()["airports"]]


async def test_a_control_character_in_the_search_query_is_422(
    client: httpx.AsyncClient, user: dict
) -> None:
    r = await client.get(
        "/api/flights/search?source=DEL&destination=BOM%00&date=2031-01-01", headers=user
    )
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == [
        "query",
        "destination",
    ]


async def post_flight(client: httpx.AsyncClient, admin: dict, body: dict[str, Any]):
    # NaN and Infinity as the bare literals json.dumps writes (httpx's json= refuses them).
    return await client.post(
        "/api/flights",
        content=json.dumps(body),
        headers={**admin, "content-type": "application/json"},
    )


@pytest.mark.parametrize("cabin", ["economy", "business"])
@pytest.mark.parametrize("fare", INSANE_AMOUNTS)
async def test_an_insane_fare_is_a_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict, cabin: str, fare: Any
) -> None:
    body = new_flight()
    body["fares"] = {**body["fares"], cabin: fare}
    r = await post_flight(client, admin, body)
    problem = assert_problem(r, 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["loc"][:3] == ["body", "fares", cabin]


@pytest.mark.parametrize("cabin", ["economy", "business"])
@pytest.mark.parametrize("fare", TOO_HIGH_FARES)
async def test_a_fare_over_ten_lakh_is_a_422(
    client: httpx.AsyncClient, admin: dict, cabin: str, fare: Any
) -> None:
    body = new_flight()
    body["fares"] = {**body["fares"], cabin: fare}
    problem = assert_problem(await post_flight(client, admin, body), 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["loc"][:3] == ["body", "fares", cabin]
    assert "1000000" in problem["detail"]


async def test_a_fare_of_ten_lakh_is_taken(client: httpx.AsyncClient, admin: dict) -> None:
    body = new_flight(fares={"economy": 1000000, "business": "1000000.00"})
    r = await post_flight(client, admin, body)
    assert r.status_code == 201, r.text
    assert r.json()["fares"] == {"economy": "1000000.00", "business": "1000000.00"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"airline": "Air\u0000India"}, "airline"),
        ({"airline": "Air\nIndia"}, "airline"),
        ({"flightNumber": "AI1\u0000"}, "flightNumber"),
        ({"aircraft": "A320\u0000"}, "aircraft"),
    ],
)
async def test_a_control_character_in_a_new_flight_is_422(
    client: httpx.AsyncClient, admin: dict, fields: dict[str, Any], field: str
) -> None:
    r = await post_flight(client, admin, new_flight(**fields))
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == ["body", field]
