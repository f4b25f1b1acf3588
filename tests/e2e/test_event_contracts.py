"""Every event a producer really writes parses with the contract its consumers read it with.

One journey through the gateway makes every event type of `shared.contracts.EVENTS` at least
once: a flight created, sold out and cancelled; bookings created, repriced, paid, confirmed,
ticketed, cancelled paid and unpaid, and expired; a payment declined, one taken and refunded; a
discount redeemed and released. Then every row of every service's outbox (this journey's and
any other test's) is parsed with the contract of its type and version, and so is every event
in the streams, which is what the consumers read.
"""

import asyncio
import uuid

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import column, select, table, text

from shared.clock import utcnow
from shared.contracts import EVENTS, parse_event
from shared.db import Database
from shared.events import Event
from tests.conftest import E2E_DATABASE_URL, E2E_REDIS_PREFIX, REDIS_URL
from tests.e2e.checks import create_flight, sell
from tests.e2e.conftest import SignUp
from tests.helpers import DECLINE_CARD, SUCCESS_CARD, bearer, eventually

pytestmark = pytest.mark.e2e

# The mock sender never fails: tests/notification_service/test_api.py checks this one.
NOT_HERE = {"notification.failed"}
OUTBOXES = ("bookings", "discounts", "flights", "notifications", "payments", "seats", "tickets")


async def outbox_rows() -> list[tuple[str, str, int, dict]]:
    """(schema, type, version, payload) of every event every service has written."""
    db = Database(E2E_DATABASE_URL, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as conn:
            rows = []
            for schema in OUTBOXES:
                outbox = table(
                    "outbox",
                    column("id"),
                    column("type"),
                    column("version"),
                    column("payload"),
                    schema=schema,
                )
                result = await conn.execute(
                    select(outbox.c.type, outbox.c.version, outbox.c.payload).order_by(outbox.c.id)
                )
                rows += [(schema, *row) for row in result.all()]
            return rows
    finally:
        await db.dispose()


async def book(
    gateway: httpx.AsyncClient, me: dict[str, str], flight_id: int, seats: list[str]
) -> dict:
    hold = await gateway.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": seats}, headers=me
    )
    assert hold.status_code == 201, hold.text
    created = await gateway.post(
        "/api/bookings",
        json={"holdIds": [hold.json()["holdId"]], "passengers": [{"name": "Asha Rao"}]},
        headers=me,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def discounted(gateway: httpx.AsyncClient, me: dict[str, str], booking: dict) -> str:
    applied = await gateway.post(
        "/api/discounts/apply", json={"bookingId": booking["id"], "code": "FLY100"}, headers=me
    )
    assert applied.status_code == 200, applied.text
    return str(applied.json()["amountAfter"])


async def expire(booking_id: int) -> None:
    """The booking's deadline, moved to now: the sweeper expires it."""
    db = Database(E2E_DATABASE_URL, pool_size=1, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE bookings.bookings SET expires_at = now() WHERE id = :id"),
                {"id": booking_id},
            )
    finally:
        await db.dispose()


async def paid_and_cancelled(gateway: httpx.AsyncClient, me: dict[str, str], flight: dict) -> None:
    """Repriced, declined, paid, confirmed, ticketed, then cancelled: refunded and voided."""
    seat_map = (await gateway.get(f"/api/seats/{flight['flightId']}", headers=me)).json()
    seats = [s["seatNumber"] for s in seat_map["seats"] if s["cabin"] == "economy"]
    booking = await book(gateway, me, flight["flightId"], seats[:1])
    amount = await discounted(gateway, me, booking)
    body = {"bookingId": booking["id"], "amount": amount}
    declined = await gateway.post(
        "/api/payments/pay", json={**body, "card": DECLINE_CARD}, headers=me
    )
    assert declined.status_code == 402, declined.text
    paid = await gateway.post("/api/payments/pay", json={**body, "card": SUCCESS_CARD}, headers=me)
    assert paid.status_code == 201 and paid.json()["bookingStatus"] == "CONFIRMED", paid.text

    async def ticketed() -> bool:
        r = await gateway.get("/api/tickets", headers=me)
        return booking["id"] in {t["bookingId"] for t in r.json()["items"]}

    await eventually(ticketed, within=20)
    cancelled = await gateway.post(f"/api/bookings/{booking['id']}/cancel", headers=me)
    assert cancelled.status_code in (200, 202), cancelled.text

    unpaid = await book(gateway, me, flight["flightId"], seats[1:2])
    await discounted(gateway, me, unpaid)
    cancelled = await gateway.post(f"/api/bookings/{unpaid['id']}/cancel", headers=me)
    assert cancelled.status_code in (200, 202), cancelled.text
    await expire((await book(gateway, me, flight["flightId"], seats[2:3]))["id"])


async def sold_out(gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str]) -> None:
    created = await create_flight(gateway, admin, days=11, aircraft="ATR72")
    seat_map = (await gateway.get(f"/api/seats/{created['flightId']}", headers=admin)).json()
    seats = [s["seatNumber"] for s in seat_map["seats"]]
    travellers = [bearer((await signup())["token"]) for _ in range(8)]
    await asyncio.gather(
        *(
            sell(gateway, who, created["flightId"], seats[9 * k : 9 * (k + 1)])
            for k, who in enumerate(travellers)
        )
    )


async def test_every_event_written_parses_with_its_contract(
    gateway: httpx.AsyncClient,
    signup: SignUp,
    admin: dict[str, str],
    reference_data: None,
    discount_codes: None,
) -> None:
    me = bearer((await signup())["token"])
    flight = await create_flight(gateway, admin, days=10)
    await paid_and_cancelled(gateway, me, flight)
    await sold_out(gateway, signup, admin)
    cancelled = await gateway.post(f"/api/flights/{flight['flightId']}/cancel", headers=admin)
    assert cancelled.status_code == 200, cancelled.text

    async def every_type_written() -> bool:
        return {row[1] for row in await outbox_rows()} >= set(EVENTS) - NOT_HERE

    await eventually(every_type_written, within=30)
    rows = await outbox_rows()
    for schema, type_, version, payload in rows:
        parse_event(Event(uuid.uuid4(), type_, schema, utcnow(), payload, version=version))
    assert {row[1] for row in rows} | NOT_HERE == set(EVENTS)


async def test_every_event_in_the_streams_parses_with_its_contract(
    gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str], reference_data: None
) -> None:
    await create_flight(gateway, admin, days=12)  # at least one event in the streams
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        domains = {t.split(".", 1)[0] for t in EVENTS}
        read = 0
        for domain in sorted(domains):
            for _, fields in await redis.xrange(f"{E2E_REDIS_PREFIX}{{events}}:{domain}"):
                parse_event(Event.from_fields(fields))
                read += 1
        assert read > 0
    finally:
        await redis.aclose()
