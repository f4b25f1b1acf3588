"""Seats sold through the real services drain search availability; a sold-out flight leaves
search, cached answers included (SPEC §4: the seed's sold-out invalidation rule).
"""

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.checks import seats_available_in_search, sell
from tests.e2e.conftest import SignUp
from tests.helpers import IST, bearer, eventually

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)


async def test_selling_every_seat_drains_availability_and_drops_the_flight_from_search(
    gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str], reference_data: None
) -> None:
    departure = (datetime.now(UTC) + timedelta(days=9)).replace(
        hour=4, minute=0, second=0, microsecond=0
    )
    created = await gateway.post(
        "/api/flights",
        json={
            "flightNumber": f"9X{next(_numbers) + datetime.now(UTC).microsecond % 9000}",
            "origin": "DEL",
            "destination": "BOM",
            "departureTime": departure.isoformat(),
            "aircraft": "ATR72",  # 72 economy seats
            "fares": {"economy": "2999.00"},
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    flight = created.json()
    flight_id = flight["flightId"]
    first = bearer((await signup())["token"])
    assert await seats_available_in_search(gateway, first, flight) == 72

    seat_map = await gateway.get(f"/api/seats/{flight_id}", headers=first)
    assert seat_map.status_code == 200, seat_map.text
    seats = [s["seatNumber"] for s in seat_map.json()["seats"]]
    assert len(seats) == 72

    # Nine seats first, then the search shows 63 left.
    await sell(gateway, first, flight_id, seats[:9])

    async def shows(n: int) -> bool:
        return await seats_available_in_search(gateway, first, flight) == n

    await eventually(lambda: shows(63), within=20)

    # A cached answer that contains the flight (the same query, cache allowed).
    date = datetime.fromisoformat(flight["departureTime"]).astimezone(IST).date().isoformat()
    params = {"source": "DEL", "destination": "BOM", "date": date, "maxStops": 0}
    for _ in range(2):
        cached = await gateway.get("/api/flights/search", params=params, headers=first)
        assert cached.status_code == 200
    assert cached.headers["x-cache"] == "HIT"
    assert flight_id in {s["flightId"] for i in cached.json()["itineraries"] for s in i["segments"]}

    # Seven more travellers buy the other 63 seats, nine each.
    travellers = [bearer((await signup())["token"]) for _ in range(7)]
    await asyncio.gather(
        *(
            sell(gateway, who, flight_id, seats[9 * (k + 1) : 9 * (k + 2)])
            for k, who in enumerate(travellers)
        )
    )
    after = (await gateway.get(f"/api/seats/{flight_id}", headers=first)).json()
    assert after["sold"] == 72 and after["available"] == 0

    async def gone_from_cached_search() -> bool:
        r = await gateway.get("/api/flights/search", params=params, headers=first)
        flights = {s["flightId"] for i in r.json()["itineraries"] for s in i["segments"]}
        return flight_id not in flights

    await eventually(gone_from_cached_search, within=20)
    assert await seats_available_in_search(gateway, first, flight) is None
