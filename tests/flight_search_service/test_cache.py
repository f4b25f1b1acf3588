"""The search cache is never wrong: a cached answer showing a flight that is then cancelled,
sold out (seats.sold_out), short of seats (seats.availability_changed) or departed is not
served again, and the next answer is right. Invalidation is per flight, never a flush."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError

from shared import clock
from shared.contracts import EventPayload
from shared.contracts.seats import AvailabilityChanged, SoldOut
from shared.events import Event, stream_for
from tests.flight_search_service.conftest import at, far_day, flight

pytestmark = pytest.mark.usefixtures("fresh_cache")


async def search(
    client: httpx.AsyncClient, headers: dict, src: str, dst: str, day: date, **params: Any
) -> tuple[str, set[str]]:
    """(X-Cache, itinerary ids)."""
    response = await client.get(
        "/api/flights/search",
        params={"source": src, "destination": dst, "date": day.isoformat(), **params},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.headers["X-Cache"], {i["id"] for i in response.json()["itineraries"]}


async def send_seat_event(app: FastAPI, contract: EventPayload) -> None:
    """Put an event on the seat service's stream, as its outbox relay would."""
    event = Event(
        id=uuid.uuid4(),
        type=contract.type,
        source="seat",
        occurred_at=datetime.now(UTC),
        payload=contract.payload(),
        version=contract.version,
    )
    await app.state.redis.xadd(stream_for(app.state.keys, event.type), event.to_fields())


def changed(flight_id: int, *, economy: int, business: int, version: int) -> AvailabilityChanged:
    """`seats.availability_changed`: an A320 (176 seats) with these seats left."""
    left = economy + business
    return AvailabilityChanged(
        flight_id=flight_id,
        flight_number="ZZ1",
        seats_available=left,
        seats_total=176,
        seats_sold=176 - left,
        by_cabin={"economy": economy, "business": business},
        availability_version=version,
    )


async def wait_for_seats(
    client: httpx.AsyncClient, headers: dict, flight_id: int, economy: int
) -> None:
    """Until the consumer has applied the event (the read-model shows `economy` seats)."""
    for _ in range(100):
        r = await client.get(f"/api/flights/{flight_id}", headers=headers)
        if r.json()["seatsByCabin"]["economy"] == economy:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"flight {flight_id} never showed {economy} economy seats")


async def test_miss_then_hit_and_ttl_capped(
    fs_app: FastAPI, client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    day = far_day()
    (fid,) = await insert([flight("CCU", "GAU", at(day, "09:00", "CCU"))])
    assert await search(client, user, "CCU", "GAU", day) == ("MISS", {str(fid)})
    assert await search(client, user, "ccu", "gau", day) == ("HIT", {str(fid)})  # normalised
    # Another passenger count, sort, or Cache-Control: no-cache is another lookup.
    assert (await search(client, user, "CCU", "GAU", day, passengers=2))[0] == "MISS"
    assert (await search(client, user, "CCU", "GAU", day, sort="duration"))[0] == "MISS"
    r = await client.get(
        "/api/flights/search",
        params={"source": "CCU", "destination": "GAU", "date": day.isoformat()},
        headers={**user, "Cache-Control": "no-cache"},
    )
    assert r.headers["X-Cache"] == "MISS"
    cache = fs_app.state.search_cache
    key = cache.entry_key(
        source="CCU",
        destination="GAU",
        day=day.isoformat(),
        passengers=1,
        max_stops=1,
        cabin="economy",
        sort="price",
        limit=100,
    )
    assert 0 < await fs_app.state.redis.pttl(key) <= cache.ttl_seconds * 1000


async def test_cancelled_flight_is_not_served_again(
    client: httpx.AsyncClient, user: dict, admin: dict, insert: Callable[..., Any]
) -> None:
    day = far_day()
    cancel_me, keep, other = await insert(
        [
            flight("DEL", "BOM", at(day, "06:00", "DEL")),
            flight("DEL", "BOM", at(day, "09:00", "DEL")),
            flight("BLR", "MAA", at(day, "09:00", "BLR")),
        ]
    )
    assert await search(client, user, "DEL", "BOM", day) == (
        "MISS",
        {str(cancel_me), str(keep)},
    )
    assert (await search(client, user, "DEL", "BOM", day))[0] == "HIT"
    assert (await search(client, user, "BLR", "MAA", day))[0] == "MISS"

    r = await client.post(f"/api/flights/{cancel_me}/cancel", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"

    assert await search(client, user, "DEL", "BOM", day) == ("MISS", {str(keep)})
    assert await search(client, user, "DEL", "BOM", day) == ("HIT", {str(keep)})
    # Precise: an answer without the cancelled flight is still served from the cache.
    assert await search(client, user, "BLR", "MAA", day) == ("HIT", {str(other)})


async def test_sold_out_event_drops_the_answers_showing_the_flight(
    fs_app: FastAPI, client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    day = far_day()
    sold, first, second = await insert(
        [
            flight("HYD", "COK", at(day, "07:00", "HYD")),
            flight("HYD", "BLR", at(day, "07:00", "HYD"), minutes=75),
            flight("BLR", "COK", at(day, "10:00", "BLR"), minutes=60),
        ]
    )
    assert await search(client, user, "HYD", "COK", day) == (
        "MISS",
        {str(sold), f"{first}-{second}"},
    )
    assert (await search(client, user, "HYD", "COK", day))[0] == "HIT"
    assert (await search(client, user, "HYD", "BLR", day))[0] == "MISS"

    sold_out = SoldOut(flight_id=sold, flight_number="ZZ1", availability_version=1)
    await send_seat_event(fs_app, sold_out)
    await wait_for_seats(client, user, sold, 0)

    assert await search(client, user, "HYD", "COK", day) == ("MISS", {f"{first}-{second}"})
    assert (await search(client, user, "HYD", "BLR", day))[0] == "HIT"  # not flushed
    # Another sold-out for it leaves answers that no longer show it alone.
    await send_seat_event(fs_app, sold_out)
    assert (await search(client, user, "HYD", "COK", day))[0] == "HIT"


async def test_fewer_seats_than_an_answer_needed_drops_only_that_answer(
    fs_app: FastAPI, client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    day = far_day()
    (fid,) = await insert([flight("AMD", "JAI", at(day, "12:00", "AMD"))])
    for pax in (1, 3):
        assert await search(client, user, "AMD", "JAI", day, passengers=pax) == (
            "MISS",
            {str(fid)},
        )
    await send_seat_event(fs_app, changed(fid, economy=2, business=8, version=5))
    await wait_for_seats(client, user, fid, 2)
    assert await search(client, user, "AMD", "JAI", day, passengers=1) == ("HIT", {str(fid)})
    assert await search(client, user, "AMD", "JAI", day, passengers=3) == ("MISS", set())
    # Business answers needed business seats, of which 8 remain: untouched.
    assert (await search(client, user, "AMD", "JAI", day, cabin="business", passengers=3))[1] == {
        str(fid)
    }

    # An older version arriving late is ignored.
    await send_seat_event(fs_app, changed(fid, economy=50, business=0, version=4))
    await send_seat_event(fs_app, changed(fid, economy=1, business=8, version=6))
    await wait_for_seats(client, user, fid, 1)
    assert await search(client, user, "AMD", "JAI", day, passengers=2) == ("MISS", set())


async def test_seats_events_leaving_enough_seats_do_not_touch_the_cache(
    fs_app: FastAPI, client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    """A query needs at most 9 seats (and at most a whole cabin): while every cabin keeps
    that many, a seats event changes the read-model only; below it, the precise drop runs."""
    day = far_day()
    (fid,) = await insert([flight("GOI", "IXC", at(day, "11:00", "GOI"))])  # A320: 8 business
    asked = [{"passengers": 1}, {"passengers": 9}, {"passengers": 8, "cabin": "business"}]
    for params in asked:
        assert await search(client, user, "GOI", "IXC", day, **params) == ("MISS", {str(fid)})
    state = fs_app.state.search_cache._flight_state(fid)

    async def seats(economy: int, business: int, version: int) -> None:
        event = changed(fid, economy=economy, business=business, version=version)
        await send_seat_event(fs_app, event)
        await wait_for_seats(client, user, fid, economy)

    await seats(9, 8, 1)  # 9 economy seats and the whole business cabin: nothing to drop
    assert not await fs_app.state.redis.exists(state)
    for params in asked:
        assert (await search(client, user, "GOI", "IXC", day, **params))[0] == "HIT"
    await seats(8, 8, 2)  # the 9-passenger answer needed one seat more than is left
    assert await fs_app.state.redis.hgetall(state) == {"economy": "8", "business": "8"}
    assert await search(client, user, "GOI", "IXC", day, passengers=9) == ("MISS", set())
    for params in (asked[0], asked[2]):
        assert (await search(client, user, "GOI", "IXC", day, **params))[0] == "HIT"


async def test_a_hit_sends_the_bytes_the_miss_sent(
    client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    day = far_day()
    await insert(
        [
            flight("DEL", "BOM", at(day, "06:00", "DEL")),
            flight("DEL", "JAI", at(day, "07:00", "DEL"), minutes=60),
            flight("JAI", "BOM", at(day, "09:30", "JAI"), minutes=100),
        ]
    )
    params = {"source": "DEL", "destination": "BOM", "date": day.isoformat()}
    miss = await client.get("/api/flights/search", params=params, headers=user)
    hit = await client.get("/api/flights/search", params=params, headers=user)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.content == miss.content
    assert hit.json()["count"] == 2
    assert hit.headers["content-type"] == miss.headers["content-type"] == "application/json"


async def test_departed_flight_is_not_served_even_before_the_entry_expires(
    fs_app: FastAPI,
    client: httpx.AsyncClient,
    user: dict,
    insert: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # An origin where it is early enough that three hours on is still the same local day.
    airports = fs_app.state.airports
    for origin in ("DXB", "LHR", "JFK", "SIN", "SYD", "HNL"):
        await airports.get(origin)
        if now.astimezone(airports.tz_of(origin)).hour < 20:
            break
    soon, later = await insert(
        [
            flight(origin, "KTM", now + timedelta(hours=1)),
            flight(origin, "KTM", now + timedelta(hours=3)),
        ]
    )
    day = now.astimezone(airports.tz_of(origin)).date()
    assert await search(client, user, origin, "KTM", day) == ("MISS", {str(soon), str(later)})
    key = fs_app.state.search_cache.entry_key(
        source=origin,
        destination="KTM",
        day=day.isoformat(),
        passengers=1,
        max_stops=1,
        cabin="economy",
        sort="price",
        limit=100,
    )
    # Expires no later than the first departure in it.
    assert await fs_app.state.redis.pttl(key) <= 3600 * 1000
    assert (await search(client, user, origin, "KTM", day))[0] == "HIT"

    # Two hours later the entry still exists in Redis (its TTL ran on the real clock) ...
    monkeypatch.setattr(clock, "utcnow", lambda: now + timedelta(hours=2))
    assert await fs_app.state.redis.exists(key)
    # ... but is not served: the first flight in it has departed.
    assert await search(client, user, origin, "KTM", day) == ("MISS", {str(later)})


async def test_a_new_flight_drops_answers_it_belongs_in(
    client: httpx.AsyncClient, user: dict, admin: dict
) -> None:
    day = far_day()
    assert await search(client, user, "SIN", "DXB", day) == ("MISS", set())
    assert await search(client, user, "SIN", "DXB", day) == ("HIT", set())
    r = await client.post(
        "/api/flights",
        headers=admin,
        json={
            "flightNumber": "SQ494",
            "airline": "Singapore Airlines",
            "origin": "SIN",
            "destination": "DXB",
            "departureTime": f"{day.isoformat()}T08:35:00+08:00",
            "aircraft": "A321",
            "fares": {"economy": "21000.00", "business": 64000},
        },
    )
    assert r.status_code == 201, r.text
    assert await search(client, user, "SIN", "DXB", day) == ("MISS", {str(r.json()["id"])})


async def test_without_redis_search_answers_and_cancel_refuses(
    fs_app: FastAPI,
    client: httpx.AsyncClient,
    user: dict,
    admin: dict,
    insert: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = far_day()
    (fid,) = await insert([flight("PNQ", "IXC", at(day, "09:00", "PNQ"))])
    cache = fs_app.state.search_cache

    async def down(*_: Any, **__: Any) -> None:
        raise RedisConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "put", down)
    monkeypatch.setattr(cache, "invalidate_flight", down)
    # Search still answers, from the database.
    assert await search(client, user, "PNQ", "IXC", day) == ("MISS", {str(fid)})
    # A cancellation that could not drop cached answers does not happen.
    r = await client.post(f"/api/flights/{fid}/cancel", headers=admin)
    assert r.status_code == 503, r.text
    monkeypatch.undo()
    r = await client.get(f"/api/flights/{fid}", headers=user)
    assert r.json()["status"] == "scheduled"
