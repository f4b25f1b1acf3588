"""Seat hoarding: a cap on the seats one user holds at once over every flight
(MAX_HELD_SEATS_PER_USER), and a hold rate per user (HOLD_RATE_LIMIT per
HOLD_RATE_WINDOW_SECONDS). Real Redis and Postgres, real concurrency."""

import asyncio
import uuid
from collections import Counter

import pytest
from redis.crc import key_slot
from sqlalchemy import text

from seat_service.config import SeatSettings
from seat_service.holds import HoldStore
from seat_service.user_holds import UserHolds
from shared.redis import Keys
from tests.conftest import REDIS_PREFIX

CAP = 36
HOLD_SECONDS = 4  # long enough for the requests before expiry on a busy machine


def lock(client, headers, flight_id, *seats):
    return client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": list(seats)}, headers=headers
    )


def codes(responses) -> Counter[str]:
    return Counter(
        str(r.status_code) if r.status_code < 300 else f"{r.status_code} {r.json()['code']}"
        for r in responses
    )


async def live_held_seats(app, user_id: int) -> int:
    """Seats the user holds by Postgres' history (held rows) and Redis (their seat keys)."""
    async with app.state.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT hold_id, flight_id, seats FROM seats.holds"
                    " WHERE user_id = :u AND status = 'held'"
                ),
                {"u": user_id},
            )
        ).all()
    store: HoldStore = app.state.holds
    total = 0
    for hold_id, flight_id, seats in rows:
        holders = await app.state.redis.mget([store.seat_key(flight_id, s) for s in seats])
        total += sum(1 for h in holders if h == str(hold_id))
    return total


@pytest.fixture(scope="module")
async def capped(seat_apps):
    """The default cap (36) and per-flight limit (9), no hold rate."""
    return await seat_apps(hold_rate_limit=0)


@pytest.fixture(scope="module")
async def short(seat_apps):
    """The same, with holds that run out after HOLD_SECONDS."""
    return await seat_apps(seat_hold_seconds=HOLD_SECONDS, hold_rate_limit=0)


@pytest.fixture(scope="module")
async def rated(seat_apps):
    """At most 5 hold attempts per user per minute."""
    return await seat_apps(hold_rate_limit=5, hold_rate_window_seconds=60)


def test_the_defaults_allow_a_nine_passenger_one_stop_round_trip() -> None:
    settings = SeatSettings()
    assert settings.max_held_seats_per_user == CAP == 9 * 2 * 2
    assert settings.max_seats_per_user == 9
    assert settings.hold_rate_limit > CAP  # seat by seat, that trip still fits in a window


async def test_a_round_trip_of_nine_then_one_seat_more_is_refused(capped, new_flight, new_user):
    app, client = capped
    user_id, headers = new_user()
    flights = [await new_flight() for _ in range(5)]
    nine = [f"{row}{c}" for row in (10, 11) for c in "ABCDEF"][:9]
    for flight_id in flights[:4]:  # out and back, one stop each way
        r = await lock(client, headers, flight_id, *nine)
        assert r.status_code == 201, r.text
    r = await lock(client, headers, flights[4], "1A")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "HOLD_LIMIT_REACHED"
    assert (problem["limit"], problem["held"], problem["requested"]) == (CAP, CAP, 1)
    assert await live_held_seats(app, user_id) == CAP
    # Someone else is not affected.
    _, other = new_user()
    assert (await lock(client, other, flights[4], "1A")).status_code == 201


async def test_concurrent_holds_of_one_user_across_flights_never_pass_the_cap(
    capped, new_flight, new_user
):
    """60 requests of 3 seats (180 seats) on 20 flights at once: exactly 36 seats are held."""
    app, client = capped
    user_id, headers = new_user()
    flights = [await new_flight() for _ in range(20)]
    asks = [(f, [f"{row}{c}" for c in "ABC"]) for f in flights for row in (3, 4, 5)]
    responses = await asyncio.gather(*(lock(client, headers, f, *seats) for f, seats in asks))
    assert codes(responses) == {"201": CAP // 3, "409 HOLD_LIMIT_REACHED": 60 - CAP // 3}
    granted = sum(len(r.json()["seats"]) for r in responses if r.status_code == 201)
    assert granted == CAP
    assert await live_held_seats(app, user_id) == CAP
    assert await app.state.holds.users.held(user_id) == CAP


async def test_released_and_expired_holds_stop_counting(short, new_flight, new_user):
    _, client = short
    _, headers = new_user()
    flights = [await new_flight() for _ in range(5)]
    seats = [f"7{c}" for c in "ABCDEF"] + ["8A", "8B", "8C"]
    holds = []
    for flight_id in flights[:4]:
        r = await lock(client, headers, flight_id, *seats)
        assert r.status_code == 201, r.text
        holds.append(r.json()["holdId"])
    assert (await lock(client, headers, flights[4], "1A")).status_code == 409
    # Released: its 9 seats are free to hold elsewhere.
    assert (await client.delete(f"/api/seats/lock/{holds[0]}", headers=headers)).status_code == 204
    r = await lock(client, headers, flights[4], *seats)
    assert r.status_code == 201, r.text
    assert (await lock(client, headers, flights[0], "1A")).status_code == 409
    # Expired: every hold runs out, and the user may hold the whole cap again.
    await asyncio.sleep(HOLD_SECONDS + 0.2)
    for flight_id in flights[1:5]:
        r = await lock(client, headers, flight_id, *seats)
        assert r.status_code == 201, r.text


async def test_a_sold_hold_stops_counting(capped, new_flight, new_user, service_headers):
    _, client = capped
    _, headers = new_user()
    flights = [await new_flight() for _ in range(5)]
    seats = [f"6{c}" for c in "ABCDEF"] + ["5A", "5B", "5C"]
    holds = [(await lock(client, headers, f, *seats)).json()["holdId"] for f in flights[:4]]
    assert (await lock(client, headers, flights[4], "1A")).status_code == 409
    r = await client.post(
        f"/internal/holds/{holds[0]}/confirm",
        json={"bookingId": uuid.uuid4().int % 10**9},
        headers=service_headers,
    )
    assert r.status_code == 200, r.text
    assert (await lock(client, headers, flights[4], "1A")).status_code == 201


async def test_a_refused_hold_reserves_nothing(capped, new_flight, new_user):
    """A hold the flight refuses (seat taken) gives its reservation back. While 50 refused
    attempts are in flight at once their reservations count (the safe side), so some of them
    meet the cap instead; once they are answered nothing is left."""
    app, client = capped
    flight_id = await new_flight()
    _, alice = new_user()
    bob_id, bob = new_user()
    assert (await lock(client, alice, flight_id, "12A")).status_code == 201
    assert codes([await lock(client, bob, flight_id, "12A") for _ in range(5)]) == {
        "409 SEAT_UNAVAILABLE": 5
    }
    refused = await asyncio.gather(*(lock(client, bob, flight_id, "12A") for _ in range(50)))
    assert set(codes(refused)) <= {"409 SEAT_UNAVAILABLE", "409 HOLD_LIMIT_REACHED"}
    assert await app.state.holds.users.held(bob_id) == 0
    flights = [await new_flight() for _ in range(4)]
    nine = [f"14{c}" for c in "ABCDEF"] + ["15A", "15B", "15C"]
    for other in flights:
        assert (await lock(client, bob, other, *nine)).status_code == 201


async def test_the_hold_rate_refuses_a_burst_with_429_and_retry_after(rated, new_flight, new_user):
    app, client = rated
    flight_id = await new_flight()
    user_id, headers = new_user()
    seats = [f"{row}{c}" for row in range(1, 5) for c in "ABCDEF"][:20]
    responses = await asyncio.gather(*(lock(client, headers, flight_id, s) for s in seats))
    assert codes(responses) == {"201": 5, "429 HOLD_RATE_LIMITED": 15}
    for r in responses:
        if r.status_code == 429:
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 60
            assert r.json()["limit"] == 5
    # Refused attempts reserved nothing; another user has a window of their own.
    assert await app.state.holds.users.held(user_id) == 5
    _, other = new_user()
    assert (await lock(client, other, flight_id, "20A")).status_code == 201


async def test_the_hold_rate_window_ends(seat_apps, new_flight, new_user):
    # A window long enough for three requests on a busy machine, short enough to wait out.
    _, client = await seat_apps(hold_rate_limit=2, hold_rate_window_seconds=3)
    flight_id = await new_flight()
    _, headers = new_user()
    statuses = [(await lock(client, headers, flight_id, f"{n}D")).status_code for n in (1, 2, 3)]
    assert statuses == [201, 201, 429]
    await asyncio.sleep(3.1)
    assert (await lock(client, headers, flight_id, "4D")).status_code == 201


async def test_each_script_touches_one_hash_slot(redis_client) -> None:
    """Redis Cluster runs a script only if all its keys are in one slot: the flight's script
    uses the flight's tag, the user's script the user's."""
    keys = Keys(f"{REDIS_PREFIX}slots:")
    store = HoldStore(redis_client, keys)
    hold_id = uuid.uuid4()
    flight_keys = [
        store.sold_key(42),
        store.user_key(42, 7),
        store.hold_key(42, hold_id),
        store.seat_key(42, "12A"),
    ]
    users = UserHolds(redis_client, keys)
    user_keys = [users.rate_key(7), users.held_key(7)]
    assert len({key_slot(k.encode()) for k in flight_keys}) == 1
    assert len({key_slot(k.encode()) for k in user_keys}) == 1


@pytest.fixture
async def redis_client(app):
    return app.state.redis
