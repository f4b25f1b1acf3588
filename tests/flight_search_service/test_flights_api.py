"""Flights, airports, admin routes, internal routes, and the events they publish."""

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from flight_search_service.models import Availability, outbox, processed_events
from flight_search_service.schemas import FlightOut
from shared.contracts.flights import FlightCancelled, FlightCreated, FlightDocument, FlightDocuments
from shared.contracts.seats import AvailabilityChanged
from shared.events import Event, stream_for
from tests.flight_search_service.conftest import at, far_day, flight, new_flight
from tests.helpers import assert_problem

pytestmark = pytest.mark.usefixtures("fresh_cache")


async def outbox_events(app: FastAPI, type: str, flight_id: int) -> list[dict[str, Any]]:
    """The flight's outbox payloads of a type, each checked to be its contract's, exactly."""
    async with app.state.db.sessionmaker() as session:
        rows = await session.execute(
            select(outbox.c.version, outbox.c.payload).where(
                outbox.c.type == type, outbox.c.payload["flightId"].as_integer() == flight_id
            )
        )
    contract = {FlightCreated.type: FlightCreated, FlightCancelled.type: FlightCancelled}[type]
    payloads = []
    for version, payload in rows:
        assert version == contract.version
        assert contract.model_validate(payload).payload() == payload
        payloads.append(payload)
    return payloads


async def test_admin_creates_a_flight_and_flight_created_is_published(
    fs_app: FastAPI, client: httpx.AsyncClient, admin: dict, user: dict
) -> None:
    body = new_flight()
    r = await client.post("/api/flights", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = FlightOut.model_validate(r.json())
    assert created.flight_number == body["flightNumber"] and created.status == "scheduled"
    assert created.departure_time == body["departureTime"]  # local at DEL, as given
    assert created.duration_minutes > 60  # from the great-circle distance
    assert r.json()["fares"] == {"economy": "4500.00", "business": "12000.00"}
    assert created.seats_by_cabin.economy == 168 and created.seats_by_cabin.business == 8

    (event,) = await outbox_events(fs_app, "flight.created", created.id)
    doc = FlightCreated.model_validate(event)
    assert doc.flight_id == created.id and doc.origin == "DEL" and doc.destination == "GOI"
    assert event["departureTime"].endswith("+00:00")  # UTC for other services
    assert doc.departure_time == datetime.fromisoformat(body["departureTime"])
    assert event["departureTimeLocal"] == body["departureTime"]  # local at DEL, as given
    assert [c.model_dump(by_alias=True) for c in doc.aircraft.cabins] == [
        {"cabin": "business", "firstRow": 1, "lastRow": 2, "letters": "ACDF"},
        {"cabin": "economy", "firstRow": 3, "lastRow": 30, "letters": "ABCDEF"},
    ]
    assert event["fares"] == {"economy": "4500.00", "business": "12000.00"}
    assert event["currency"] == "INR"

    # The relay publishes it to the flight stream.
    stream = stream_for(fs_app.state.keys, "flight.created")
    for _ in range(100):
        entries = await fs_app.state.redis.xrevrange(stream, count=50)
        if any(json.loads(f["payload"])["flightId"] == created.id for _, f in entries):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("flight.created never reached the stream")

    # Creating the same flight again: 409.
    again = await client.post("/api/flights", json=body, headers=admin)
    assert_problem(again, 409, "FLIGHT_EXISTS")
    # Travellers see it.
    r = await client.get(f"/api/flights/{created.id}", headers=user)
    assert r.status_code == 200 and r.json()["flightNumber"] == body["flightNumber"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"origin": "ZZQ"}, "INVALID_FLIGHT"),
        ({"aircraft": "B747"}, "INVALID_FLIGHT"),
        ({"departureTime": "2020-01-01T10:00:00+05:30"}, "INVALID_FLIGHT"),
        ({"departureTime": "2031-01-01T10:00:00"}, "VALIDATION_FAILED"),  # no offset
        ({"destination": "DEL"}, "VALIDATION_FAILED"),
        ({"flightNumber": "AIR-1"}, "VALIDATION_FAILED"),
        ({"fares": {"economy": "-5"}}, "VALIDATION_FAILED"),
        ({"fares": {"economy": "4500.001"}}, "VALIDATION_FAILED"),
        ({"fares": {"economy": "4500"}}, "INVALID_FLIGHT"),  # the A320 has business seats
        ({"arrivalTime": "2020-01-01T10:00:00+00:00"}, "VALIDATION_FAILED"),
    ],
)
async def test_bad_flights_are_422(
    client: httpx.AsyncClient, admin: dict, overrides: dict, code: str
) -> None:
    r = await client.post("/api/flights", json=new_flight(**overrides), headers=admin)
    assert_problem(r, 422, code)


async def test_economy_only_aircraft_needs_no_business_fare(
    client: httpx.AsyncClient, admin: dict
) -> None:
    r = await client.post(
        "/api/flights",
        json=new_flight(aircraft="atr72", fares={"economy": 2999}, destination="JAI"),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["fares"] == {"economy": "2999.00", "business": None}
    assert r.json()["seatsByCabin"] == {"economy": 72, "business": 0}


async def test_admin_routes_refuse_a_normal_user(
    client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    (fid,) = await insert([flight("DEL", "BOM", at(far_day(), "10:00", "DEL"))])
    assert_problem(await client.post("/api/flights", json=new_flight(), headers=user), 403)
    assert_problem(await client.post(f"/api/flights/{fid}/cancel", headers=user), 403)
    assert_problem(await client.post("/api/flights", json=new_flight()), 401)


async def test_cancel_publishes_flight_cancelled_and_twice_is_409(
    fs_app: FastAPI, client: httpx.AsyncClient, admin: dict, insert: Callable[..., Any]
) -> None:
    (fid,) = await insert([flight("BOM", "GOI", at(far_day(), "10:00", "BOM"))])
    r = await client.post(f"/api/flights/{fid}/cancel", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    (event,) = await outbox_events(fs_app, "flight.cancelled", fid)
    cancelled = FlightCancelled.model_validate(event)
    assert cancelled.flight_id == fid and cancelled.flight_number.startswith("ZZ")
    assert (cancelled.origin, cancelled.destination) == ("BOM", "GOI")
    assert datetime.fromisoformat(event["departureTime"]).utcoffset() == timedelta(0)
    assert_problem(
        await client.post(f"/api/flights/{fid}/cancel", headers=admin),
        409,
        "FLIGHT_ALREADY_CANCELLED",
    )
    assert_problem(
        await client.post("/api/flights/999999999/cancel", headers=admin), 404, "FLIGHT_NOT_FOUND"
    )


async def test_flight_detail_has_local_times(
    client: httpx.AsyncClient, user: dict, insert: Callable[..., Any]
) -> None:
    day = far_day()
    (fid,) = await insert([flight("DXB", "DEL", at(day, "23:00", "DXB"), minutes=195)])
    r = await client.get(f"/api/flights/{fid}", headers=user)
    assert r.status_code == 200
    body = FlightOut.model_validate(r.json())
    assert body.departure_time == f"{day.isoformat()}T23:00:00+04:00"
    assert body.arrival_time == f"{(day + timedelta(days=1)).isoformat()}T03:45:00+05:30"
    assert body.duration_minutes == 195 and body.source == "DXB"
    assert_problem(await client.get("/api/flights/987654321", headers=user), 404)
    assert_problem(await client.get("/api/flights/abc", headers=user), 404)  # not an id path
    assert_problem(await client.get(f"/api/flights/{2**70}", headers=user), 404)  # 22 digits
    assert_problem(await client.get(f"/api/flights/{2**63}", headers=user), 422)  # 19 digits
    assert_problem(await client.get(f"/api/flights/{fid}"), 401)


async def test_airports_by_code_or_city(client: httpx.AsyncClient, user: dict) -> None:
    r = await client.get("/api/airports", params={"q": "del"}, headers=user)
    assert r.status_code == 200
    body = r.json()
    assert body["airports"][0]["code"] == "DEL"
    assert body["airports"][0]["timeZone"] == "Asia/Kolkata"
    assert body["count"] == len(body["airports"]) <= 10
    mumbai = (await client.get("/api/airports", params={"q": "Mumbai"}, headers=user)).json()
    assert "BOM" in [a["code"] for a in mumbai["airports"]]
    delhi = (await client.get("/api/airports", params={"q": "delhi"}, headers=user)).json()
    assert "DEL" in [a["code"] for a in delhi["airports"]]  # "New Delhi": a word prefix
    few = (await client.get("/api/airports", params={"q": "a", "limit": 3}, headers=user)).json()
    assert few["count"] == 3
    odd = await client.get("/api/airports", params={"q": "%_\\"}, headers=user)
    assert odd.status_code == 200 and odd.json()["count"] == 0
    assert_problem(await client.get("/api/airports", params={"q": ""}, headers=user), 422)
    assert_problem(await client.get("/api/airports", params={"q": "del"}), 401)


async def test_internal_flight_documents_need_a_service_token(
    client: httpx.AsyncClient, user: dict, service_auth: dict, insert: Callable[..., Any]
) -> None:
    a, b = await insert(
        [
            flight("DEL", "BLR", at(far_day(), "10:00", "DEL")),
            flight("BLR", "DEL", at(far_day(), "10:00", "BLR"), aircraft="A321"),
        ]
    )
    r = await client.get(f"/internal/flights/{a}", headers=service_auth)
    assert r.status_code == 200, r.text
    doc = FlightDocument.model_validate(r.json())
    assert doc.model_dump(mode="json", by_alias=True) == r.json()  # the contract, exactly
    assert r.json()["departureTime"].endswith("+00:00")
    assert doc.flight_id == a and doc.aircraft.code == "A320" and doc.currency == "INR"
    assert r.json()["fares"]["economy"].count(".") == 1
    assert_problem(await client.get(f"/internal/flights/{a}", headers=user), 403)
    assert_problem(await client.get(f"/internal/flights/{a}"), 401)
    assert_problem(await client.get("/internal/flights/999999999", headers=service_auth), 404)

    r = await client.get(
        "/internal/flights", params={"ids": f"{b},{a},999999"}, headers=service_auth
    )
    assert r.status_code == 200
    batch = FlightDocuments.model_validate(r.json())
    assert [d.flight_id for d in batch.flights] == [b, a] and batch.missing == [999999]
    assert batch.flights[0].aircraft.cabins[0].last_row == 3  # A321: business rows 1-3
    assert_problem(
        await client.get("/internal/flights", params={"ids": "1,x"}, headers=service_auth), 422
    )


async def test_redelivered_seat_event_is_handled_once(
    fs_app: FastAPI, insert: Callable[..., Any]
) -> None:
    (fid,) = await insert([flight("LKO", "DEL", at(far_day(), "10:00", "LKO"))])
    consumer = fs_app.state.consumer
    changed = AvailabilityChanged(
        flight_id=fid,
        flight_number="ZZ1",
        seats_available=100,
        seats_total=176,
        seats_sold=76,
        by_cabin={"economy": 92, "business": 8},
        availability_version=3,
    )
    event = Event(
        id=uuid.uuid4(),
        type=changed.type,
        source="seat",
        occurred_at=datetime.now(UTC),
        payload=changed.payload(),
        version=changed.version,
    )
    stream = stream_for(fs_app.state.keys, event.type)
    # Handled directly twice, as a redelivery would be: the second does no work.
    await consumer.handle(stream, "0-1", event.to_fields())
    async with fs_app.state.db.sessionmaker() as session:
        # Pretend the read-model moved on; a duplicate must not set it back.
        av = await session.get(Availability, fid)
        av.seats_economy = 91
        await session.commit()
    await consumer.handle(stream, "0-1", event.to_fields())
    async with fs_app.state.db.sessionmaker() as session:
        av = await session.get(Availability, fid)
        assert (av.seats_economy, av.seats_business, av.version) == (91, 8, 3)
        seen = await session.scalar(
            select(processed_events.c.type).where(processed_events.c.event_id == event.id)
        )
        assert seen == "seats.availability_changed"
