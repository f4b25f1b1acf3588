"""Holds run out: the seat comes back, confirming is refused, the sweeper records it."""

import asyncio
import uuid

import pytest
from sqlalchemy import select

from seat_service.models import Hold

HOLD_SECONDS = 0.6


@pytest.fixture(scope="module")
async def short(seat_apps):
    """A seat app whose holds last HOLD_SECONDS, with a fast sweeper."""
    return await seat_apps(seat_hold_seconds=HOLD_SECONDS, hold_sweep_seconds=0.2)


async def test_a_hold_runs_out(short, new_flight, new_user, service_headers):
    _, client = short
    flight_id = await new_flight()
    _, alice = new_user()
    _, bob = new_user()
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": ["9A", "9B"]}, headers=alice
    )
    assert r.status_code == 201
    hold_id = r.json()["holdId"]
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "9A"}, headers=bob
    )
    assert r.status_code == 409

    await asyncio.sleep(HOLD_SECONDS + 0.3)
    seats = (await client.get(f"/api/seats/{flight_id}", headers=alice)).json()["seats"]
    assert {s["seatNumber"]: s["status"] for s in seats}["9A"] == "available"
    r = await client.get(f"/internal/holds/{hold_id}", headers=service_headers)
    assert r.json()["status"] == "expired"
    r = await client.post(
        f"/internal/holds/{hold_id}/confirm", json={"bookingId": 1}, headers=service_headers
    )
    assert (r.status_code, r.json()["code"]) == (409, "HOLD_EXPIRED")
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "9A"}, headers=bob
    )
    assert r.status_code == 201
    # Still expired, whatever is asked next.
    r = await client.post(
        f"/internal/holds/{hold_id}/confirm", json={"bookingId": 1}, headers=service_headers
    )
    assert (r.status_code, r.json()["code"]) == (409, "HOLD_EXPIRED")
    assert (await client.delete(f"/api/seats/lock/{hold_id}", headers=alice)).status_code == 204


async def test_the_sweeper_records_expired_holds(short, new_flight, new_user):
    app, client = short
    flight_id = await new_flight()
    _, headers = new_user()
    held = []
    for seat in ("10A", "10B", "10C"):
        r = await client.post(
            "/api/seats/lock", json={"flightId": flight_id, "seatNumber": seat}, headers=headers
        )
        held.append(uuid.UUID(r.json()["holdId"]))
    released = held.pop()
    assert (await client.delete(f"/api/seats/lock/{released}", headers=headers)).status_code == 204

    async def statuses():
        async with app.state.db.sessionmaker() as session:
            rows = await session.execute(
                select(Hold.hold_id, Hold.status, Hold.ended_at, Hold.expires_at).where(
                    Hold.flight_id == flight_id
                )
            )
            return {r.hold_id: r for r in rows}

    for _ in range(40):
        rows = await statuses()
        if all(rows[h].status == "expired" for h in held):
            break
        await asyncio.sleep(0.1)
    assert all(rows[h].status == "expired" and rows[h].ended_at == rows[h].expires_at for h in held)
    assert rows[released].status == "released"


async def test_the_user_limit_frees_up_as_holds_run_out(short, new_flight, new_user):
    _, client = short
    flight_id = await new_flight()
    _, headers = new_user()
    seats = [f"{n}C" for n in range(1, 10)]
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": seats}, headers=headers
    )
    assert r.status_code == 201
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1D"}, headers=headers
    )
    assert r.status_code == 409
    await asyncio.sleep(HOLD_SECONDS + 0.2)
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1D"}, headers=headers
    )
    assert r.status_code == 201
