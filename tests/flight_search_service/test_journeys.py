"""Round trips and multi-city searches: each slice is exactly the one-way search of that slice
(cached under the one-way entry), and dates out of order are a clear 422."""

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight_search_service.schemas import MultiSearchResponse, RoundTripResponse
from tests.flight_search_service.conftest import at, far_day, flight
from tests.helpers import assert_problem

pytestmark = pytest.mark.usefixtures("fresh_cache")

SEARCH, MULTI = "/api/flights/search", "/api/flights/search/multi"


async def one_way(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict:
    """A fresh (uncached) one-way answer."""
    response = await client.get(
        SEARCH, params=params, headers={**headers, "Cache-Control": "no-cache"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_round_trip_answers_both_ways_from_one_way_entries(
    client: httpx.AsyncClient, user: dict[str, str], insert: Callable[..., Any]
) -> None:
    day = far_day()
    back = day + timedelta(days=3)
    ids = await insert(
        [
            flight("DEL", "BOM", at(day, "06:00", "DEL"), minutes=130, fare="5000"),
            flight("BOM", "DEL", at(back, "18:00", "BOM"), minutes=130, fare="5500"),
            flight("BOM", "DEL", at(day, "18:00", "BOM"), minutes=130, fare="5100"),
        ]
    )
    params = {"source": "DEL", "destination": "BOM", "date": day.isoformat()}
    first = await client.get(
        SEARCH, params={**params, "returnDate": back.isoformat()}, headers=user
    )
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    body = first.json()
    RoundTripResponse.model_validate(body)
    assert [i["id"] for i in body["itineraries"]] == [str(ids[0])]
    assert [i["id"] for i in body["returnItineraries"]] == [str(ids[1])]
    assert body["returnDate"] == back.isoformat()
    assert body["returnCount"] == body["returnTotal"] == 1
    again = await client.get(
        SEARCH, params={**params, "returnDate": back.isoformat()}, headers=user
    )
    assert again.headers["X-Cache"] == "HIT" and again.json() == body
    # The way back was cached as the one-way search it is.
    home = await client.get(
        SEARCH,
        params={"source": "BOM", "destination": "DEL", "date": back.isoformat()},
        headers=user,
    )
    assert home.headers["X-Cache"] == "HIT"
    assert home.json()["itineraries"] == body["returnItineraries"]
    same_day = await client.get(
        SEARCH, params={**params, "returnDate": day.isoformat()}, headers=user
    )
    assert [i["id"] for i in same_day.json()["returnItineraries"]] == [str(ids[2])]
    one = await client.get(SEARCH, params=params, headers=user)
    assert "returnItineraries" not in one.json()


@pytest.mark.parametrize(
    ("return_date", "code", "kind"),
    [
        (-1, "DATES_OUT_OF_ORDER", "date_order"),
        ("2031-02-30", "INVALID_SEARCH", "date_format"),
        ("2020-01-01", "INVALID_SEARCH", "date_in_past"),
        (400, "INVALID_SEARCH", "date_too_far"),
    ],
)
async def test_bad_return_date_is_a_clear_422(
    client: httpx.AsyncClient, user: dict[str, str], return_date: Any, code: str, kind: str
) -> None:
    day = far_day()
    if isinstance(return_date, int):
        return_date = (day + timedelta(days=return_date)).isoformat()
    params = {"source": "DEL", "destination": "BOM", "date": day.isoformat()}
    response = await client.get(SEARCH, params={**params, "returnDate": return_date}, headers=user)
    body = assert_problem(response, 422, code)
    assert body["errors"][0]["loc"] == ["query", "returnDate"]
    assert body["errors"][0]["type"] == kind and "returnDate" in body["detail"]


async def test_multi_city_answers_each_slice_as_its_one_way_search(
    client: httpx.AsyncClient, user: dict[str, str], insert: Callable[..., Any]
) -> None:
    day = far_day()
    ids = await insert(
        [
            flight("DEL", "BOM", at(day, "06:00", "DEL"), minutes=130, fare="5000"),
            flight("BOM", "GOI", at(day + timedelta(days=1), "09:00", "BOM"), minutes=70),
            flight("GOI", "DEL", at(day + timedelta(days=1), "19:00", "GOI"), minutes=150),
        ]
    )
    slices = [
        {"source": "DEL", "destination": "BOM", "date": day.isoformat()},
        {"source": "bom", "destination": "GOI", "date": (day + timedelta(days=1)).isoformat()},
        {"source": "GOI", "destination": "DEL", "date": (day + timedelta(days=1)).isoformat()},
    ]
    request = {"slices": slices, "passengers": 2, "cabin": "economy", "maxStops": 0}
    response = await client.post(MULTI, json=request, headers=user)
    assert response.status_code == 200, response.text
    assert response.headers["X-Cache"] == "MISS"
    body = response.json()
    MultiSearchResponse.model_validate(body)
    assert [[i["id"] for i in s["itineraries"]] for s in body["slices"]] == [
        [str(ids[0])],
        [str(ids[1])],
        [str(ids[2])],
    ]
    assert [s["source"] for s in body["slices"]] == ["DEL", "BOM", "GOI"]
    for part, got in zip(slices, body["slices"], strict=True):
        assert got == await one_way(client, user, **part, passengers=2, maxStops=0)
    again = await client.post(MULTI, json=request, headers=user)
    assert again.headers["X-Cache"] == "HIT" and again.json() == body


@pytest.mark.parametrize(
    ("change", "code", "loc"),
    [
        (lambda s: s[:1], "VALIDATION_FAILED", "slices"),
        (lambda s: s * 4, "VALIDATION_FAILED", "slices"),
        (lambda s: [s[1], s[0]], "DATES_OUT_OF_ORDER", ["body", "slices", 1, "date"]),
        (
            lambda s: [s[0], {**s[1], "source": "ZZQ"}],
            "UNKNOWN_AIRPORT",
            ["body", "slices", 1, "source"],
        ),
        (
            lambda s: [s[0], {**s[1], "date": "2020-01-01"}],
            "INVALID_SEARCH",
            ["body", "slices", 1, "date"],
        ),
        (
            lambda s: [s[0], {**s[1], "destination": "BOM"}],
            "INVALID_SEARCH",
            ["body", "slices", 1, "destination"],
        ),
        (lambda s: [s[0], {"source": "BOM"}], "VALIDATION_FAILED", "date"),
    ],
)
async def test_bad_multi_city_is_a_clear_422(
    client: httpx.AsyncClient, user: dict[str, str], change: Callable[..., Any], code: str, loc: Any
) -> None:
    day = far_day()
    slices = [
        {"source": "DEL", "destination": "BOM", "date": day.isoformat()},
        {"source": "BOM", "destination": "GOI", "date": (day + timedelta(days=2)).isoformat()},
    ]
    response = await client.post(MULTI, json={"slices": change(slices)}, headers=user)
    body = assert_problem(response, 422, code)
    locs = [e["loc"] for e in body["errors"]]
    assert loc in locs if isinstance(loc, list) else any(loc in e for e in locs), locs


async def test_multi_city_needs_a_token(client: httpx.AsyncClient) -> None:
    day = far_day().isoformat()
    slices = [{"source": "DEL", "destination": "BOM", "date": day}] * 2
    assert_problem(await client.post(MULTI, json={"slices": slices}), 401)


_network_days = itertools.count()
_AIRPORTS = ["DEL", "BOM", "BLR", "GOI"]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_slice_equals_its_one_way_search(
    data: st.DataObject,
    client: httpx.AsyncClient,
    user: dict[str, str],
    insert: Callable[..., Any],
    remove: Callable[..., Any],
) -> None:
    """A random network over four airports and three days: every round trip's way back and
    every multi-city slice equals the one-way search of it, computed fresh (cache or not)."""
    day = far_day() + timedelta(days=next(_network_days) % 2)
    days = [day + timedelta(days=n) for n in range(3)]
    legs = data.draw(
        st.lists(
            st.tuples(
                st.permutations(_AIRPORTS).map(lambda p: p[:2]),
                st.sampled_from(days),
                st.integers(0, 23 * 4 - 1),
                st.integers(50, 300),
                st.integers(20, 120),
            ),
            min_size=4,
            max_size=30,
        )
    )
    flights = [
        flight(a, b, at(d, f"{q // 4:02d}:{q % 4 * 15:02d}", a), minutes=m, fare=str(f * 100))
        for (a, b), d, q, m, f in legs
    ]
    ids = await insert(flights)
    try:
        route = data.draw(st.permutations(_AIRPORTS))
        rules = {
            "passengers": data.draw(st.sampled_from([1, 2, 9])),
            "maxStops": data.draw(st.sampled_from([0, 1])),
            "cabin": data.draw(st.sampled_from(["economy", "business"])),
            "sort": data.draw(st.sampled_from(["price", "duration", "departure"])),
        }
        out, back = sorted(data.draw(st.lists(st.sampled_from(days), min_size=2, max_size=2)))
        params = {"source": route[0], "destination": route[1], "date": out.isoformat(), **rules}
        for _ in range(2):  # a miss, then (the way back cached) a hit
            r = await client.get(
                SEARCH, params={**params, "returnDate": back.isoformat()}, headers=user
            )
            assert r.status_code == 200, r.text
            way_back = {"source": route[1], "destination": route[0], "date": back.isoformat()}
            home = await one_way(client, user, **{**params, **way_back})
            assert r.json()["returnItineraries"] == home["itineraries"]
            assert r.json()["returnTotal"] == home["total"]
        dates = sorted(data.draw(st.lists(st.sampled_from(days), min_size=3, max_size=3)))
        slices = [
            {"source": a, "destination": b, "date": d.isoformat()}
            for (a, b), d in zip(itertools.pairwise(route), dates, strict=False)
        ]
        r = await client.post(MULTI, json={"slices": slices, **rules}, headers=user)
        assert r.status_code == 200, r.text
        for part, got in zip(slices, r.json()["slices"], strict=True):
            assert got == await one_way(client, user, **{**params, **part})
    finally:
        await remove(ids)
