"""The `flight.*` consumer: flights arrive by event; a cancelled flight refuses holds."""

import asyncio
import uuid
from datetime import UTC, datetime

from seat_service.models import Flight
from shared.events import Event, stream_for
from tests.seat_service.conftest import flight_document


async def send(app, type_, payload):
    event = Event(uuid.uuid4(), type_, "flight-search", datetime.now(UTC), payload)
    await app.state.redis.xadd(stream_for(app.state.keys, type_), event.to_fields())
    return event


async def wait_for(predicate, *, attempts=100):
    for _ in range(attempts):
        if result := await predicate():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def flight_row(app, flight_id):
    async with app.state.db.sessionmaker() as session:
        return await session.get(Flight, flight_id)


async def test_flight_created_then_cancelled(app, client, new_user):
    document = flight_document(rows=(1, 3), letters="ABC")
    flight_id = document["flightId"]
    await send(app, "flight.created", document)
    flight = await wait_for(lambda: flight_row(app, flight_id))
    assert flight.total_seats == 9 and flight.capacity == {"economy": 9}
    _, headers = new_user()
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1A"}, headers=headers
    )
    assert r.status_code == 201

    await send(
        app,
        "flight.cancelled",
        {
            "flightId": flight_id,
            "flightNumber": document["flightNumber"],
            "departureTime": document["departureTime"],
        },
    )

    async def cancelled():
        row = await flight_row(app, flight_id)
        return row.status == "cancelled"

    await wait_for(cancelled)
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1B"}, headers=headers
    )
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")
    # A late or repeated flight.created cannot bring it back.
    await send(app, "flight.created", document)
    await asyncio.sleep(0.5)
    assert (await flight_row(app, flight_id)).status == "cancelled"


async def test_cancellation_of_an_unseen_flight_is_remembered(app, client, new_user):
    document = flight_document()
    await send(
        app,
        "flight.cancelled",
        {
            "flightId": document["flightId"],
            "flightNumber": "AI9",
            "departureTime": document["departureTime"],
        },
    )
    await wait_for(lambda: flight_row(app, document["flightId"]))
    _, headers = new_user()
    r = await client.post(
        "/api/seats/lock",
        json={"flightId": document["flightId"], "seatNumber": "1A"},
        headers=headers,
    )
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")


async def test_a_repeated_event_is_handled_once(app):
    document = flight_document()
    event = await send(app, "flight.created", document)
    await wait_for(lambda: flight_row(app, document["flightId"]))
    # The same event again (redelivery): recorded as processed, no error.
    await app.state.redis.xadd(stream_for(app.state.keys, "flight.created"), event.to_fields())
    await asyncio.sleep(0.3)
    assert (await flight_row(app, document["flightId"])).flight_number == document["flightNumber"]
