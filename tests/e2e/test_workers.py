"""Several workers and replicas of a service do each background job once.

Services scale with `WEB_CONCURRENCY` (uvicorn workers) and with replicas; every worker runs the
service's loops. Here the booking and notification services each get a second process with two
workers (three workers in all, on the same database and streams), and a batch of bookings falls
due at once: the booking sweepers race to expire them, the outbox relays race to publish the
events, and the notification consumers and dispatchers race to turn them into messages.
"""

import json
from collections import Counter

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from shared.db import Database
from tests.conftest import E2E_DATABASE_URL, E2E_REDIS_PREFIX, REDIS_URL
from tests.e2e.checks import create_flight
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Stack
from tests.helpers import bearer, eventually

pytestmark = pytest.mark.e2e

BOOKINGS = 6


async def book_seats(
    gateway: httpx.AsyncClient, me: dict[str, str], flight_id: int, n: int
) -> list[int]:
    seat_map = (await gateway.get(f"/api/seats/{flight_id}", headers=me)).json()
    seats = [s["seatNumber"] for s in seat_map["seats"] if s["cabin"] == "economy"][:n]
    ids = []
    for seat in seats:
        hold = await gateway.post(
            "/api/seats/lock", json={"flightId": flight_id, "seatNumber": seat}, headers=me
        )
        assert hold.status_code == 201, hold.text
        booking = await gateway.post(
            "/api/bookings", json={"holdIds": [hold.json()["holdId"]]}, headers=me
        )
        assert booking.status_code == 201, booking.text
        ids.append(booking.json()["id"])
    return ids


async def booking_events(redis: Redis) -> list[dict]:
    entries = await redis.xrange(f"{E2E_REDIS_PREFIX}{{events}}:booking")
    return [{**fields, "payload": json.loads(fields["payload"])} for _, fields in entries]


async def test_three_workers_expire_publish_and_notify_each_booking_once(
    stack: Stack,
    gateway: httpx.AsyncClient,
    signup: SignUp,
    admin: dict[str, str],
    reference_data: None,
) -> None:
    with (
        stack.copy("booking", WEB_CONCURRENCY="2", BOOKING_SWEEP_SECONDS="0.2"),
        stack.copy("notification", WEB_CONCURRENCY="2", NOTIFICATION_DISPATCH_SECONDS="0.2"),
    ):
        await three_workers_race(gateway, signup, admin)


async def three_workers_race(
    gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str]
) -> None:
    user = await signup()
    me = bearer(user["token"])
    flight = await create_flight(gateway, admin, days=9)
    ids = await book_seats(gateway, me, flight["flightId"], BOOKINGS)

    # Every booking falls due at the same moment: all three workers' sweepers see them.
    db = Database(E2E_DATABASE_URL, pool_size=1, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE bookings.bookings SET expires_at = now() WHERE id = ANY(:ids)"),
                {"ids": ids},
            )
    finally:
        await db.dispose()

    async def all_expired() -> bool:
        statuses = [
            (await gateway.get(f"/api/bookings/{i}", headers=me)).json()["status"] for i in ids
        ]
        return statuses == ["EXPIRED"] * BOOKINGS

    await eventually(all_expired, within=30)

    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:

        async def each_expiry_published() -> bool:
            expired = [e for e in await booking_events(redis) if e["type"] == "booking.expired"]
            return {e["payload"]["bookingId"] for e in expired} >= set(ids)

        await eventually(each_expiry_published, within=30)
        events = await booking_events(redis)
    finally:
        await redis.aclose()
    # Each booking expired once (one event), and no event was relayed twice.
    expired = Counter(
        e["payload"]["bookingId"]
        for e in events
        if e["type"] == "booking.expired" and e["payload"]["bookingId"] in ids
    )
    assert expired == dict.fromkeys(ids, 1)
    assert all(n == 1 for n in Counter(e["id"] for e in events).values())

    # One email and one SMS per expiry, each delivered exactly once.
    async def notified() -> list[dict]:
        r = await gateway.get(
            "/api/notifications", params={"event": "booking.expired", "limit": 100}, headers=me
        )
        return [n for n in r.json()["items"] if n["status"] == "sent"]

    async def all_sent() -> bool:
        return len(await notified()) >= 2 * BOOKINGS

    await eventually(all_sent, within=30)
    sent = await notified()
    assert Counter((n["bookingId"], n["channel"]) for n in sent) == {
        (i, channel): 1 for i in ids for channel in ("email", "sms")
    }
    assert {n["attempts"] for n in sent} == {1}
