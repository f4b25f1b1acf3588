"""The `flight.*` consumer: flights arrive by event (a backlog in batches); a cancelled flight
refuses holds, in every process at once."""

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from seat_service.flights import read_flight_info
from seat_service.models import Flight
from shared.contracts.flights import FlightCancelled
from shared.events import Event, stream_for
from tests.seat_service.conftest import flight_document


def event_of(contract):
    """The stream entry's event the flight search service's relay would write."""
    return Event(
        uuid.uuid4(),
        contract.type,
        "flight-search",
        datetime.now(UTC),
        contract.payload(),
        version=contract.version,
    )


def cancelled_event(document):
    return FlightCancelled(
        flight_id=document.flight_id,
        flight_number=document.flight_number,
        departure_time=document.departure_time,
        origin=document.origin,
        destination=document.destination,
    )


async def send(app, contract):
    event = event_of(contract)
    await app.state.redis.xadd(stream_for(app.state.keys, event.type), event.to_fields())
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
    flight_id = document.flight_id
    await send(app, document)
    flight = await wait_for(lambda: flight_row(app, flight_id))
    assert flight.total_seats == 9 and flight.capacity == {"economy": 9}
    _, headers = new_user()
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1A"}, headers=headers
    )
    assert r.status_code == 201

    await send(app, cancelled_event(document))

    async def cancelled():
        row = await flight_row(app, flight_id)
        return row.status == "cancelled"

    await wait_for(cancelled)
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1B"}, headers=headers
    )
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")
    # A late or repeated flight.created cannot bring it back.
    await send(app, document)
    await asyncio.sleep(0.5)
    assert (await flight_row(app, flight_id)).status == "cancelled"


async def test_cancellation_of_an_unseen_flight_is_remembered(app, client, new_user):
    document = flight_document()
    await send(app, cancelled_event(document))
    row = await wait_for(lambda: flight_row(app, document.flight_id))
    assert (row.status, row.origin, row.total_seats) == ("cancelled", "DEL", 0)
    _, headers = new_user()
    r = await client.post(
        "/api/seats/lock",
        json={"flightId": document.flight_id, "seatNumber": "1A"},
        headers=headers,
    )
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")


async def test_a_repeated_event_is_handled_once(app):
    document = flight_document()
    event = await send(app, document)
    await wait_for(lambda: flight_row(app, document.flight_id))
    # The same event again (redelivery): recorded as processed, no error.
    await app.state.redis.xadd(stream_for(app.state.keys, "flight.created"), event.to_fields())
    await asyncio.sleep(0.3)
    assert (await flight_row(app, document.flight_id)).flight_number == document.flight_number


async def send_all(app, events):
    """Several entries in one MULTI: the consumer reads them together (one batch)."""
    async with app.state.redis.pipeline(transaction=True) as pipe:
        for event in events:
            pipe.xadd(stream_for(app.state.keys, event.type), event.to_fields())
        return await pipe.execute()


async def pending(app, message_ids):
    """Which of these stream entries the seat consumer group has not acknowledged."""
    stream = stream_for(app.state.keys, "flight.created")
    entries = await app.state.redis.xpending_range(
        stream, "seat", min=min(message_ids), max=max(message_ids), count=1000
    )
    return {e["message_id"] for e in entries} & set(message_ids)


async def test_a_backlog_of_flight_created_is_handled_once_each(app):
    documents = [flight_document(rows=(1, 2), letters="AB") for _ in range(40)]
    renamed = documents[5].model_copy(update={"flight_number": "AI-LAST"})
    events = [event_of(d) for d in documents]
    # The same event twice, and a later document for the same flight.
    backlog = [*events, events[3], event_of(renamed)]
    message_ids = await send_all(app, backlog)

    async def stored():
        async with app.state.db.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT flight_id, flight_number FROM seats.flights WHERE flight_id = ANY(:ids)"
                ),
                {"ids": [d.flight_id for d in documents]},
            )
            found = dict(rows.all())
        return found if len(found) == len(documents) else None

    found = await wait_for(stored)
    assert found[renamed.flight_id] == "AI-LAST"
    assert found[documents[0].flight_id] == documents[0].flight_number
    async with app.state.db.engine.connect() as conn:
        processed = await conn.scalar(
            text("SELECT count(*) FROM seats.processed_events WHERE event_id = ANY(:ids)"),
            {"ids": [e.id for e in backlog]},
        )
    assert processed == len(events) + 1
    await wait_for(lambda: _none_pending(app, message_ids))


async def _none_pending(app, message_ids):
    return not await pending(app, message_ids)


async def test_a_bad_event_in_a_batch_fails_alone(app):
    good = [flight_document(), flight_document()]
    bad = flight_document()
    bad.aircraft.cabins.clear()  # no seats: not a usable flight (though a valid document)
    unreadable = event_of(flight_document())
    unreadable.payload["aircraft"] = {"code": "X", "cabins": []}  # not the contract
    first, broken, garbled, last = await send_all(
        app, [event_of(good[0]), event_of(bad), unreadable, event_of(good[1])]
    )
    for document in good:
        await wait_for(lambda d=document: flight_row(app, d.flight_id))
    await wait_for(lambda: _only_pending(app, [first, broken, garbled, last], {broken, garbled}))
    assert await flight_row(app, bad.flight_id) is None
    assert await flight_row(app, unreadable.payload["flightId"]) is None
    # Left pending, it would be retried, then dead-lettered; tidy up instead.
    stream = stream_for(app.state.keys, "flight.created")
    await app.state.redis.xack(stream, "seat", broken, garbled)


async def _only_pending(app, message_ids, expected):
    return await pending(app, message_ids) == expected


async def test_a_cancellation_reaches_every_process_at_once(app, client, new_flight, new_user):
    """Another process still has the flight cached as scheduled: Redis refuses the hold."""
    flight_id = await new_flight()
    stale = await read_flight_info(db=app.state.db, flight_id=flight_id)
    _, headers = new_user()

    async def hold(seat):
        return await client.post(
            "/api/seats/lock", json={"flightId": flight_id, "seatNumber": seat}, headers=headers
        )

    assert (await hold("1A")).status_code == 201
    cancelled_flight = FlightCancelled(
        flight_id=flight_id,
        flight_number=stale.flight_number,
        departure_time=stale.departure_utc,
        origin="DEL",
        destination="BOM",
    )
    await send(app, cancelled_flight)

    async def cancelled():
        return (await flight_row(app, flight_id)).status == "cancelled"

    await wait_for(cancelled)
    app.state.flight_directory.remember(stale)
    r = await hold("1B")
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")
    body = (await client.get(f"/api/seats/{flight_id}", headers=headers)).json()
    assert body["flightStatus"] == "cancelled"
    # Redis lost the flight's sold set: it is refilled from Postgres, cancellation included.
    await app.state.redis.delete(app.state.holds.sold_key(flight_id))
    app.state.flight_directory.remember(stale)
    r = await hold("1C")
    assert (r.status_code, r.json()["code"]) == (409, "FLIGHT_CANCELLED")
