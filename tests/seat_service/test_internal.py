"""The booking service's endpoints: read, confirm and release holds; give sold seats back."""

import asyncio
import json
import uuid
from typing import get_args

import pytest
from sqlalchemy import select

from seat_service.events import AVAILABILITY_CHANGED_SQL, SOLD_OUT_SQL
from seat_service.holds import flight_tag
from seat_service.models import HOLD_STATUSES, Hold, SoldSeat, outbox
from seat_service.pg import connect
from shared.contracts import EVENTS
from shared.contracts.seats import (
    AvailabilityChanged,
    HoldDetail,
    HoldStatus,
    SaleRead,
    SoldOut,
)
from tests.conftest import REDIS_PREFIX
from tests.helpers.tracing import TRACED, capture_spans, trace_id_of
from tests.seat_service.conftest import flush_redis, sold_twice


async def hold(client, headers, flight_id, *seats):
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": list(seats)}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def confirm(client, service_headers, hold_id, booking_id):
    return await client.post(
        f"/internal/holds/{hold_id}/confirm",
        json={"bookingId": booking_id},
        headers=service_headers,
    )


async def events(app, flight_id):
    """The flight's outbox events, each read with its contract: the row's version is the
    contract's, and the payload has exactly the contract's keys and values."""
    async with app.state.db.sessionmaker() as session:
        rows = await session.execute(
            select(outbox.c.type, outbox.c.version, outbox.c.payload)
            .where(outbox.c.payload["flightId"].as_integer() == flight_id)
            .order_by(outbox.c.id)
        )
    sent = []
    for type_, version, payload in rows:
        contract = EVENTS[type_]
        assert version == contract.version
        event = contract.model_validate(payload)
        assert event.payload() == payload
        sent.append((type_, event))
    return sent


def test_the_hold_statuses_are_the_contracts():
    assert set(get_args(HoldStatus)) == set(HOLD_STATUSES)


async def test_the_sale_builds_the_contracts_payloads_in_sql(app):
    """The SQL a sale writes its events with (`events.py`) makes the contracts' JSON."""
    sql = f"""
    SELECT {AVAILABILITY_CHANGED_SQL} AS changed, {SOLD_OUT_SQL} AS sold_out
    FROM (VALUES ('AI7', 3::bigint, 12, 12, '{{"economy": 0, "business": 0}}'::jsonb))
      AS t(flight_number, version, total_seats, seats_sold, by_cabin)
    """  # noqa: S608 (constants)
    async with connect(app.state.db) as conn:
        row = await conn.fetchrow(sql, 42)
    changed, sold_out = row["changed"], row["sold_out"]  # jsonb: decoded by the pool
    assert AvailabilityChanged.model_validate(changed).payload() == changed
    assert changed == {
        "flightId": 42,
        "flightNumber": "AI7",
        "seatsAvailable": 0,
        "seatsTotal": 12,
        "seatsSold": 12,
        "byCabin": {"economy": 0, "business": 0},
        "version": 3,
    }
    assert SoldOut.model_validate(sold_out).payload() == sold_out
    assert sold_out == {"flightId": 42, "flightNumber": "AI7", "version": 3}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/internal/holds/{uuid.uuid4()}"),
        ("GET", "/internal/holds?userId=1&flightId=1"),
        ("POST", f"/internal/holds/{uuid.uuid4()}/confirm"),
        ("POST", f"/internal/holds/{uuid.uuid4()}/release"),
        ("POST", "/internal/flights/1/seats/release"),
    ],
)
async def test_internal_routes_refuse_user_tokens(client, new_user, method, path):
    _, headers = new_user()
    _, admin = new_user(role="admin")
    body = {"bookingId": 1, "seats": ["1A"]}
    for h, status in ((headers, 403), (admin, 403), ({}, 401)):
        r = await client.request(method, path, json=body, headers=h)
        assert r.status_code == status, (path, r.text)


async def test_read_a_hold(client, new_flight, new_user, service_headers):
    flight_id = await new_flight()
    user_id, headers = new_user()
    h = await hold(client, headers, flight_id, "2A", "2B")
    r = await client.get(f"/internal/holds/{h['holdId']}", headers=service_headers)
    assert r.status_code == 200
    body = r.json()
    assert body["holdId"] == h["holdId"]
    assert body["userId"] == user_id
    assert body["flightId"] == flight_id
    assert body["seats"] == ["2A", "2B"]
    assert body["status"] == "held"
    assert body["expiresAt"] == h["expiresAt"]
    assert HoldDetail.model_validate(body).model_dump(mode="json", by_alias=True) == body
    r = await client.get(
        f"/internal/holds?userId={user_id}&flightId={flight_id}", headers=service_headers
    )
    assert [x["holdId"] for x in r.json()["holds"]] == [h["holdId"]]
    for missing in (uuid.uuid4(), "nope"):
        r = await client.get(f"/internal/holds/{missing}", headers=service_headers)
        assert (r.status_code, r.json()["code"]) == (404, "HOLD_NOT_FOUND")


async def test_confirm_sells_the_seats_once_and_is_idempotent(
    app, client, new_flight, new_user, service_headers
):
    flight_id = await new_flight(rows=(1, 2), letters="AB", business_rows=None)
    _, buyer = new_user()
    _, other = new_user()
    h = await hold(client, buyer, flight_id, "1A", "1B")
    replies = await asyncio.gather(
        *(confirm(client, service_headers, h["holdId"], 77) for _ in range(5))
    )
    assert {r.status_code for r in replies} == {200}
    sale = replies[0].json()
    assert (
        sale["holdId"] == h["holdId"] and sale["bookingId"] == 77 and sale["status"] == "confirmed"
    )
    assert sorted(sale["seats"]) == ["1A", "1B"]
    assert all(r.json() == sale for r in replies)
    assert SaleRead.model_validate(sale).model_dump(mode="json", by_alias=True) == sale
    # Another booking cannot take the same hold.
    r = await confirm(client, service_headers, h["holdId"], 78)
    assert (r.status_code, r.json()["code"]) == (409, "HOLD_ALREADY_CONFIRMED")
    # Sold: the map says so (mine for the buyer), Redis keys are gone, the sold set knows.
    body = (await client.get(f"/api/seats/{flight_id}", headers=buyer)).json()
    seats = {s["seatNumber"]: s for s in body["seats"]}
    assert seats["1A"]["status"] == "sold" and seats["1A"]["mine"] is True
    assert body["sold"] == 2
    redis = app.state.redis
    assert await redis.get(f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:1A") is None
    assert await redis.sismember(f"{REDIS_PREFIX}sold:{flight_tag(flight_id)}", "1A")
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "1A"}, headers=other
    )
    assert (r.status_code, r.json()["seats"]) == (409, ["1A"])
    r = await client.get(f"/internal/holds/{h['holdId']}", headers=service_headers)
    assert r.json()["status"] == "confirmed" and r.json()["bookingId"] == 77
    # Releasing a confirmed hold is refused: its seats are sold.
    r = await client.delete(f"/api/seats/lock/{h['holdId']}", headers=buyer)
    assert r.status_code == 409
    # One availability event per sale.
    sent = await events(app, flight_id)
    assert [t for t, _ in sent] == ["seats.availability_changed"]
    assert sent[0][1].seats_available == 2 and sent[0][1].by_cabin == {"economy": 2}


async def test_selling_the_last_seat_announces_sold_out_and_cancellation_undoes_it(
    app, client, new_flight, new_user, service_headers
):
    flight_id = await new_flight(
        rows=(1, 1), letters="AB", business_rows=(2, 2), business_letters="A"
    )
    _, alice = new_user()
    _, bob = new_user()
    h1 = await hold(client, alice, flight_id, "1A", "2A")
    h2 = await hold(client, bob, flight_id, "1B")
    assert (await confirm(client, service_headers, h1["holdId"], "501")).status_code == 200
    assert (await confirm(client, service_headers, h2["holdId"], "502")).status_code == 200
    sent = await events(app, flight_id)
    assert [t for t, _ in sent] == [
        "seats.availability_changed",
        "seats.availability_changed",
        "seats.sold_out",
    ]
    first, second, sold_out = (event for _, event in sent)
    assert first.seats_available == 1 and first.by_cabin == {"economy": 1, "business": 0}
    assert second.seats_available == 0
    assert second.availability_version == first.availability_version + 1
    assert sold_out.flight_id == flight_id
    assert sold_out.availability_version == second.availability_version

    # Cancellation of booking 501: only its seats go back, once.
    release = {"seats": ["1A", "2A", "1B"], "bookingId": "501"}
    r = await client.post(
        f"/internal/flights/{flight_id}/seats/release", json=release, headers=service_headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["released"] == ["1A", "2A"] and body["notReleased"] == ["1B"]
    assert body["seatsAvailable"] == 2 and body["version"] == second.availability_version + 1
    r = await client.post(
        f"/internal/flights/{flight_id}/seats/release", json=release, headers=service_headers
    )
    assert r.json()["released"] == [] and r.json()["version"] is None
    (*_, (type_, released)) = await events(app, flight_id)
    assert type_ == "seats.availability_changed"
    assert released.seats_available == 2 and released.by_cabin == {"economy": 1, "business": 1}
    # The seats can be held again.
    _, carol = new_user()
    await hold(client, carol, flight_id, "1A")
    r = await client.post(
        "/internal/flights/424242/seats/release", json=release, headers=service_headers
    )
    assert r.status_code == 404


async def test_outbox_events_reach_the_stream(app, client, new_flight, new_user, service_headers):
    flight_id = await new_flight(rows=(1, 1), letters="A")
    _, headers = new_user()
    h = await hold(client, headers, flight_id, "1A")
    assert (await confirm(client, service_headers, h["holdId"], 1)).status_code == 200
    stream = f"{REDIS_PREFIX}{{events}}:seats"
    for _ in range(50):
        entries = await app.state.redis.xrange(stream)
        mine = [e for _, e in entries if f'"flightId": {flight_id}' in e["payload"]]
        if len(mine) == 2:
            break
        await asyncio.sleep(0.1)
    assert [e["type"] for e in mine] == ["seats.availability_changed", "seats.sold_out"]
    # As written to the outbox (same ids, same payloads), and marked as sent (the relay
    # commits that after adding them to the stream).
    for _ in range(50):
        async with app.state.db.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(outbox.c.event_id, outbox.c.payload, outbox.c.published_at)
                    .where(outbox.c.payload["flightId"].as_integer() == flight_id)
                    .order_by(outbox.c.id)
                )
            ).all()
        if all(r.published_at is not None for r in rows):
            break
        await asyncio.sleep(0.1)
    assert all(r.published_at is not None for r in rows)
    assert [e["id"] for e in mine] == [str(r.event_id) for r in rows]
    assert [json.loads(e["payload"]) for e in mine] == [r.payload for r in rows]


async def test_release_a_hold_for_a_booking(app, client, new_flight, new_user, service_headers):
    flight_id = await new_flight()
    _, headers = new_user()
    h = await hold(client, headers, flight_id, "3A")
    for _ in range(2):
        r = await client.post(f"/internal/holds/{h['holdId']}/release", headers=service_headers)
        assert r.status_code == 200 and r.json()["status"] == "released"
    r = await confirm(client, service_headers, h["holdId"], 5)
    assert (r.status_code, r.json()["code"]) == (409, "HOLD_RELEASED")
    assert await app.state.redis.get(f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:3A") is None
    r = await client.post(f"/internal/holds/{uuid.uuid4()}/release", headers=service_headers)
    assert r.status_code == 404


async def test_postgres_refuses_a_second_sale_when_redis_forgot(
    app, client, new_flight, new_user, service_headers
):
    """Redis loses everything between two confirmations of the same seat by different holds."""
    flight_id = await new_flight()
    _, alice = new_user()
    _, bob = new_user()
    _, carol = new_user()
    first = await hold(client, alice, flight_id, "5A")
    assert (await confirm(client, service_headers, first["holdId"], 1001)).status_code == 200

    assert await flush_redis(app.state.redis) > 0
    await app.state.consumer.ensure_groups()  # the flush took the consumer group too
    # The sold set is rebuilt from Postgres on the next hold: the sold seat is refused at once.
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "5A"}, headers=bob
    )
    assert (r.status_code, r.json()["code"]) == (409, "SEAT_UNAVAILABLE")

    # Worse: the flush lands while a sale is in flight, and the sold set is rebuilt before it
    # commits, so Redis grants a second hold on the seat. Postgres still refuses that sale.
    await flush_redis(app.state.redis)
    await app.state.consumer.ensure_groups()
    await app.state.redis.sadd(f"{REDIS_PREFIX}sold:{flight_tag(flight_id)}", "*")
    second = await hold(client, carol, flight_id, "5A", "5B")
    r = await confirm(client, service_headers, second["holdId"], 1002)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "SEAT_ALREADY_SOLD" and r.json()["seats"] == ["5A"]
    # The void hold is released (5B is free again) and Redis learnt that 5A is sold.
    async with app.state.db.sessionmaker() as session:
        sold = (
            await session.execute(
                select(SoldSeat.seat_number, SoldSeat.booking_id).where(
                    SoldSeat.flight_id == flight_id
                )
            )
        ).all()
        status = await session.scalar(
            select(Hold.status).where(Hold.hold_id == uuid.UUID(second["holdId"]))
        )
    assert sold == [("5A", "1001")]
    assert status == "released"
    assert await app.state.redis.sismember(f"{REDIS_PREFIX}sold:{flight_tag(flight_id)}", "5A")
    await hold(client, bob, flight_id, "5B")
    assert await sold_twice(app) == []


async def test_confirm_validates_its_body(client, new_flight, new_user, service_headers):
    flight_id = await new_flight()
    _, headers = new_user()
    h = await hold(client, headers, flight_id, "6A")
    for body in ({}, {"bookingId": None}, {"bookingId": ""}, {"bookingId": 0}, {"bookingId": []}):
        r = await client.post(
            f"/internal/holds/{h['holdId']}/confirm", json=body, headers=service_headers
        )
        assert r.status_code == 422, body


async def test_a_sales_events_continue_the_requests_trace(
    monkeypatch, seat_apps, new_flight, new_user, service_headers
):
    capture_spans(monkeypatch)
    app, client = await seat_apps(**TRACED)
    flight_id = await new_flight(rows=(1, 1), letters="A")
    _, headers = new_user()
    h = await hold(client, headers, flight_id, "1A")
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = await client.post(
        f"/internal/holds/{h['holdId']}/confirm",
        json={"bookingId": 1},
        headers={**service_headers, "traceparent": caller},
    )
    assert r.status_code == 200, r.text
    async with app.state.db.sessionmaker() as session:
        stored = (
            await session.scalars(
                select(outbox.c.traceparent)
                .where(outbox.c.payload["flightId"].as_integer() == flight_id)
                .order_by(outbox.c.id)
            )
        ).all()
    assert len(stored) == 2  # availability changed, sold out
    assert all(t is not None and trace_id_of(t) == trace_id_of(caller) for t in stored)
