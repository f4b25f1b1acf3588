"""POST /api/seats/lock and DELETE /api/seats/lock/{holdId}."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from seat_service.holds import flight_tag
from tests.conftest import REDIS_PREFIX


async def lock(client, headers, flight_id, *seats, **extra):
    body = {"flightId": flight_id, **extra}
    if len(seats) == 1:
        body["seatNumber"] = seats[0]
    else:
        body["seatNumbers"] = list(seats)
    return await client.post("/api/seats/lock", json=body, headers=headers)


async def test_hold_one_seat(app, client, new_flight, new_user):
    flight_id = await new_flight()
    user_id, headers = new_user()
    before = datetime.now(UTC)
    r = await lock(client, headers, flight_id, "12A")
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["flightId"] == flight_id
    assert hold["seats"] == ["12A"]
    expires = datetime.fromisoformat(hold["expiresAt"])
    assert before + timedelta(seconds=590) < expires < before + timedelta(seconds=610)
    # Redis: one key per seat holding the hold id, with the TTL, under the flight's hash tag.
    redis = app.state.redis
    key = f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:12A"
    assert await redis.get(key) == hold["holdId"]
    assert 590_000 < await redis.pttl(key) <= 600_000
    record = await redis.hgetall(f"{REDIS_PREFIX}hold:{flight_tag(flight_id)}:{hold['holdId']}")
    assert record["userId"] == str(user_id) and record["seats"] == "12A"


async def test_hold_several_seats_seed_style_numbers(client, new_flight, new_user):
    flight_id = await new_flight()
    _, headers = new_user()
    r = await lock(client, headers, flight_id, "A1", "1b", "C1")
    assert r.status_code == 201, r.text
    assert r.json()["seats"] == ["1A", "1B", "1C"]


async def test_held_seat_is_unavailable_naming_the_seats(client, new_flight, new_user):
    flight_id = await new_flight()
    _, alice = new_user()
    _, bob = new_user()
    assert (await lock(client, alice, flight_id, "3A", "3B")).status_code == 201
    r = await lock(client, bob, flight_id, "3C", "3B", "A3")
    assert r.status_code == 409
    problem = r.json()
    assert problem["code"] == "SEAT_UNAVAILABLE"
    assert sorted(problem["seats"]) == ["3A", "3B"]
    # All or nothing: 3C was not held either.
    assert (await lock(client, bob, flight_id, "3C")).status_code == 201


async def test_my_own_held_seat_cannot_be_held_twice(client, new_flight, new_user):
    flight_id = await new_flight()
    _, headers = new_user()
    assert (await lock(client, headers, flight_id, "4A")).status_code == 201
    assert (await lock(client, headers, flight_id, "4A")).status_code == 409


async def test_seats_not_on_the_aircraft_are_422(client, new_flight, new_user):
    flight_id = await new_flight(rows=(1, 10), letters="ABCDEF")
    _, headers = new_user()
    r = await lock(client, headers, flight_id, "5A", "11A", "5G", "hello")
    assert r.status_code == 422
    assert r.json()["code"] == "SEAT_NOT_FOUND"
    assert r.json()["seats"] == ["11A", "5G", "hello"]


async def test_duplicates_are_422(client, new_flight, new_user):
    flight_id = await new_flight()
    _, headers = new_user()
    r = await lock(client, headers, flight_id, "5A", "a5")
    assert r.status_code == 422
    assert r.json()["code"] == "DUPLICATE_SEATS"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"flightId": 1},
        {"seatNumber": "1A"},
        {"flightId": "x", "seatNumber": "1A"},
        {"flightId": 1, "seatNumber": 12},
        {"flightId": 1, "seatNumbers": []},
        {"flightId": 1, "seatNumbers": "1A"},
        {"flightId": 1, "seatNumber": "1A", "seatNumbers": ["1B"]},
        {"flightId": 1, "seatNumber": "x" * 50},
        {"flightId": None, "seatNumber": "1A"},
        [],
        "1A",
    ],
)
async def test_malformed_requests_are_422(client, new_user, body):
    _, headers = new_user()
    r = await client.post("/api/seats/lock", json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_FAILED"


async def test_at_most_nine_seats_per_user_per_flight(client, new_flight, new_user):
    flight_id = await new_flight()
    _, headers = new_user()
    r = await lock(client, headers, flight_id, *[f"{n}A" for n in range(1, 11)])
    assert r.status_code == 422
    assert r.json()["code"] == "TOO_MANY_SEATS"
    assert (
        await lock(client, headers, flight_id, *[f"{n}A" for n in range(1, 7)])
    ).status_code == 201
    r = await lock(client, headers, flight_id, "1B", "2B", "3B", "4B")
    assert r.status_code == 409
    assert r.json()["code"] == "SEAT_LIMIT_EXCEEDED"
    assert r.json()["held"] == 6
    assert (await lock(client, headers, flight_id, "1B", "2B", "3B")).status_code == 201
    assert (await lock(client, headers, flight_id, "1C")).status_code == 409
    # Another flight is another count; another user too.
    other = await new_flight()
    assert (await lock(client, headers, other, "1C")).status_code == 201
    _, someone = new_user()
    assert (await lock(client, someone, flight_id, "1C")).status_code == 201


async def test_released_seats_count_no_more(client, new_flight, new_user):
    flight_id = await new_flight()
    _, headers = new_user()
    r = await lock(client, headers, flight_id, *[f"{n}A" for n in range(1, 10)])
    assert r.status_code == 201
    assert (
        await client.delete(f"/api/seats/lock/{r.json()['holdId']}", headers=headers)
    ).status_code == 204
    assert (
        await lock(client, headers, flight_id, *[f"{n}B" for n in range(1, 10)])
    ).status_code == 201


async def test_cancelled_and_departed_flights_refuse_holds(client, new_flight, new_user):
    _, headers = new_user()
    cancelled = await new_flight(status="cancelled")
    r = await lock(client, headers, cancelled, "1A")
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")
    departed = await new_flight(departs_in=-timedelta(minutes=5))
    r = await lock(client, headers, departed, "1A")
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_DEPARTED")


async def test_unknown_flight_is_404(client, new_user):
    _, headers = new_user()
    r = await lock(client, headers, 876543210, "1A")
    assert (r.status_code, r.json()["code"]) == (404, "FLIGHT_NOT_FOUND")


async def test_user_id_in_the_body_must_be_mine(client, new_flight, new_user):
    flight_id = await new_flight()
    user_id, headers = new_user()
    other_id, _ = new_user()
    r = await lock(client, headers, flight_id, "6A", userId=other_id)
    assert r.status_code == 403
    assert (await lock(client, headers, flight_id, "6A", userId=user_id)).status_code == 201


async def test_release_my_hold(client, new_flight, new_user):
    flight_id = await new_flight()
    _, headers = new_user()
    hold = (await lock(client, headers, flight_id, "7A", "7B")).json()
    r = await client.delete(f"/api/seats/lock/{hold['holdId']}", headers=headers)
    assert r.status_code == 204
    seats = (await client.get(f"/api/seats/{flight_id}", headers=headers)).json()["seats"]
    assert {s["seatNumber"]: s["status"] for s in seats}["7A"] == "available"
    # Releasing again is harmless.
    r = await client.delete(f"/api/seats/lock/{hold['holdId']}", headers=headers)
    assert r.status_code == 204
    _, other = new_user()
    assert (await lock(client, other, flight_id, "7A", "7B")).status_code == 201


async def test_someone_elses_hold_is_404_and_stays(app, client, new_flight, new_user):
    flight_id = await new_flight()
    _, alice = new_user()
    _, mallory = new_user()
    hold = (await lock(client, alice, flight_id, "8A")).json()
    for hold_id in (hold["holdId"], str(uuid.uuid4()), "not-a-uuid"):
        r = await client.delete(f"/api/seats/lock/{hold_id}", headers=mallory)
        assert r.status_code == 404, hold_id
        assert r.json()["code"] == "HOLD_NOT_FOUND"
    assert (
        await app.state.redis.get(f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:8A")
        == hold["holdId"]
    )
    seats = (await client.get(f"/api/seats/{flight_id}", headers=alice)).json()["seats"]
    assert next(s for s in seats if s["seatNumber"] == "8A")["mine"] is True


async def test_hold_requires_a_token(client, new_flight):
    flight_id = await new_flight()
    r = await client.post("/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1A"})
    assert r.status_code == 401
