"""Two processes of every service that runs background work, both serving requests, and every
background job done once.

The stack of this module runs a second process of the flight search, seat, booking, payment,
discount, ticket and notification services; the gateway is given both URLs of each and sends
requests to each in turn. Both processes run all the service's loops, on short intervals, and
each test makes a batch of work fall due at once so that they race for it: outbox relays (woken
together by the same NOTIFY), consumer groups, notification dispatch, and the booking sweeper,
the hold sweeper and payment recovery (their batch made due under a lock of the table, so both
processes' loops read it at the same moment). What shows each was done once is in `once.py`.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from seat_service.holds import HoldStore
from seat_service.models import EXPIRED
from shared.redis import Keys
from tests.conftest import REDIS_URL
from tests.e2e.checks import create_flight
from tests.e2e.conftest import load_reference_data, own_stack, seed_discount_codes, signer
from tests.e2e.journey import cancel_with_refund, spec_journey
from tests.e2e.once import (
    every_event_relayed_and_consumed_once,
    fall_due_together,
    query,
    record_writes,
    requests_served,
    sent_messages,
    writes,
    written_more_than_once,
)
from tests.e2e.stack import Process, Stack
from tests.helpers import SUCCESS_CARD, bearer, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.scale]

# Every service with background loops (the auth service has none).
BACKGROUND = ("flight-search", "seat", "booking", "payment", "discount", "ticket", "notification")
# Every loop wakes often, so that both processes' loops are at it when work falls due.
FAST = {
    "BOOKING_SWEEP_SECONDS": "0.2",
    "HOLD_SWEEP_SECONDS": "0.2",
    "PAYMENT_RECOVERY_SECONDS": "0.2",
    "NOTIFICATION_DISPATCH_SECONDS": "0.2",
    "OUTBOX_LISTENING_POLL_SECONDS": "0.5",
}
BATCH = 6


@pytest.fixture(scope="module")
async def replicas(test_database: str) -> AsyncIterator[Stack]:
    """The whole system with two processes of each service in `BACKGROUND`, and its data."""
    with own_stack("replicas", replicas=BACKGROUND, **FAST) as stack:
        await load_reference_data(stack)
        seed_discount_codes(stack)
        yield stack


@pytest.fixture
async def replica_gateway(replicas: Stack) -> AsyncIterator[httpx.AsyncClient]:
    url = replicas.gateway.url
    async with httpx.AsyncClient(base_url=url, timeout=15.0, trust_env=False) as client:
        yield client


def both(stack: Stack, name: str) -> list[Process]:
    """The two processes of service `name`."""
    return [stack.services[name], stack.replicas[name]]


async def test_the_journey_with_requests_spread_over_both_processes(
    replicas: Stack, replica_gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gateway = replica_gateway
    journey = await spec_journey(gateway, signer(gateway), admin)
    await one_ticket_each(gateway, journey.me, [journey.booking["id"]])
    await cancel_with_refund(gateway, journey)
    # The journey asks the discount service once: once more, so that both processes answer.
    check = await gateway.get("/api/discounts/validate", params={"code": "FLY100"}, headers=admin)
    assert check.status_code == 200, check.text
    served = {name: [await requests_served(p) for p in both(replicas, name)] for name in BACKGROUND}
    assert all(min(counts) > 0 for counts in served.values()), served
    await every_event_relayed_and_consumed_once(replicas)
    assert replicas.errors() == {}


async def test_due_bookings_expire_once_and_give_their_discount_back_once(
    replicas: Stack, replica_gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gateway = replica_gateway
    notifications = replicas.database_url("notification")
    await record_writes(notifications, "notifications.notifications", "id", "status", "attempts")
    me = bearer((await signer(gateway)())["token"])
    code = await new_code(gateway, admin, uses=BATCH)
    flight = await create_flight(gateway, admin, days=9)
    ids = [b["id"] for b in await bookings(gateway, me, flight["flightId"], code=code)]
    # Every booking falls due at the same moment: both processes' sweepers see them all.
    await fall_due_together(
        replicas.database_url("booking"),
        "bookings.bookings",
        "UPDATE bookings.bookings SET expires_at = now() WHERE id = ANY(:ids)",
        ids=ids,
    )

    async def all_expired() -> bool:
        got = [(await gateway.get(f"/api/bookings/{i}", headers=me)).json() for i in ids]
        return [b["status"] for b in got] == ["EXPIRED"] * BATCH

    await eventually(all_expired, within=30)
    events = await every_event_relayed_and_consumed_once(replicas)
    for kind in ("booking.expired", "discount.released"):
        per_booking = Counter(e["payload"]["bookingId"] for e in events if e["type"] == kind)
        assert {i: per_booking[i] for i in ids} == dict.fromkeys(ids, 1), kind
    codes = (await gateway.get("/api/discounts", headers=admin)).json()
    assert next(c for c in codes if c["code"] == code)["timesUsed"] == 0
    await each_message_sent_once(replicas, gateway, me, "booking.expired", ids)
    assert replicas.errors() == {}


async def each_message_sent_once(
    stack: Stack, gateway: httpx.AsyncClient, me: dict[str, str], event: str, ids: list[int]
) -> None:
    """One email and one SMS of `event` per booking in `ids`, each delivered once by one of
    the two dispatchers: one line of the mock sender, one write of `sent`, one attempt."""

    async def sent() -> list[dict[str, Any]]:
        r = await gateway.get(
            "/api/notifications", params={"event": event, "limit": 100}, headers=me
        )
        return [n for n in r.json()["items"] if n["status"] == "sent"]

    async def all_sent() -> bool:
        return len(await sent()) >= 2 * len(ids)

    await eventually(all_sent, within=30)
    messages = await sent()
    assert Counter((n["bookingId"], n["channel"]) for n in messages) == {
        (i, channel): 1 for i in ids for channel in ("email", "sms")
    }
    assert {n["attempts"] for n in messages} == {1}
    delivered = sent_messages(both(stack, "notification"))
    assert {n["id"]: delivered[n["id"]] for n in messages} == {n["id"]: 1 for n in messages}
    recorded = await writes(stack.database_url("notification"), "notifications.notifications")
    ours = {str(n["id"]) for n in messages}
    assert written_more_than_once([w for w in recorded if w[0] in ours]) == []


async def new_code(gateway: httpx.AsyncClient, admin: dict[str, str], *, uses: int) -> str:
    """A flat discount code of this test's own that may be used `uses` times."""
    code = f"RACE{uuid.uuid4().hex[:8].upper()}"
    created = await gateway.post(
        "/api/discounts",
        json={"code": code, "kind": "flat", "value": "50.00", "usageLimit": uses},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return code


async def holds(gateway: httpx.AsyncClient, me: dict[str, str], flight_id: int) -> list[str]:
    """`BATCH` holds of one economy seat each on the flight: their ids."""
    seat_map = (await gateway.get(f"/api/seats/{flight_id}", headers=me)).json()
    seats = [s["seatNumber"] for s in seat_map["seats"] if s["cabin"] == "economy"][:BATCH]
    ids = []
    for seat in seats:
        hold = await gateway.post(
            "/api/seats/lock", json={"flightId": flight_id, "seatNumber": seat}, headers=me
        )
        assert hold.status_code == 201, hold.text
        ids.append(hold.json()["holdId"])
    return ids


async def bookings(
    gateway: httpx.AsyncClient, me: dict[str, str], flight_id: int, *, code: str | None = None
) -> list[dict[str, Any]]:
    """A booking of each of `BATCH` holds on the flight (with `code` applied, if given)."""
    booked = []
    for hold_id in await holds(gateway, me, flight_id):
        booking = await gateway.post("/api/bookings", json={"holdIds": [hold_id]}, headers=me)
        assert booking.status_code == 201, booking.text
        b = booking.json()
        if code is not None:
            applied = await gateway.post(
                "/api/discounts/apply", json={"bookingId": b["id"], "code": code}, headers=me
            )
            assert applied.status_code == 200, applied.text
            b = {**b, "amountDue": applied.json()["amountAfter"]}
        booked.append(b)
    return booked


async def test_expired_holds_are_recorded_expired_once(
    replicas: Stack, replica_gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gateway = replica_gateway
    seats_db = replicas.database_url("seat")
    await record_writes(seats_db, "seats.holds", "hold_id", "status")
    me = bearer((await signer(gateway)())["token"])
    flight_id = (await create_flight(gateway, admin, days=10))["flightId"]
    ids = await holds(gateway, me, flight_id)
    await run_out(replicas, flight_id, ids)

    async def all_expired() -> bool:
        rows = await query(
            seats_db,
            "SELECT count(*) AS n FROM seats.holds WHERE hold_id::text = ANY(:ids)"
            " AND status = :expired",
            ids=ids,
            expired=EXPIRED,
        )
        return rows[0].n == BATCH

    await eventually(all_expired, within=30)
    await asyncio.sleep(1.0)  # a second sweeper's write, if any, would be in by now
    recorded = [w for w in await writes(seats_db, "seats.holds") if w[0] in ids]
    assert written_more_than_once(recorded) == []
    expired = Counter(key for key, state in recorded if state["status"] == EXPIRED)
    assert expired == dict.fromkeys(ids, 1)
    assert replicas.errors() == {}


async def run_out(stack: Stack, flight_id: int, ids: list[str]) -> None:
    """The holds run out together: Redis forgets them (as their ttl makes it do) and their
    expiry in Postgres passes."""
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    store = HoldStore(redis, Keys(stack.base_env["REDIS_PREFIX"]))
    try:
        for hold_id in ids:
            record = store.hold_key(flight_id, uuid.UUID(hold_id))
            seats = (await redis.hget(record, "seats") or "").split(",")
            await redis.delete(record, *(store.seat_key(flight_id, s) for s in seats if s))
    finally:
        await redis.aclose()
    await fall_due_together(
        stack.database_url("seat"),
        "seats.holds",
        "UPDATE seats.holds SET expires_at = now() WHERE hold_id::text = ANY(:ids)",
        ids=ids,
    )


async def test_stuck_payments_are_recovered_once(
    replicas: Stack, replica_gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gateway = replica_gateway
    payments_db = replicas.database_url("payment")
    await record_writes(payments_db, "payments.payments", "id", "status", "settled")
    me = bearer((await signer(gateway)())["token"])
    flight = await create_flight(gateway, admin, days=11)
    booked = await bookings(gateway, me, flight["flightId"])
    stuck = await crash_mid_saga(replicas, me, booked)
    # They fall due together: both processes' recovery loops find every one of them.
    await fall_due_together(
        payments_db,
        "payments.payments",
        "UPDATE payments.payments SET updated_at = now() - interval '1 hour' WHERE id = ANY(:ids)",
        ids=list(stuck),
    )

    async def all_settled() -> bool:
        rows = await query(
            payments_db,
            "SELECT bool_and(settled) AS done FROM payments.payments WHERE id = ANY(:ids)",
            ids=list(stuck),
        )
        return bool(rows[0].done)

    await eventually(all_settled, within=30)
    await asyncio.sleep(1.0)  # a second recovery's write, if any, would be in by now
    recorded = [w for w in await writes(payments_db, "payments.payments") if int(w[0]) in stuck]
    assert written_more_than_once(recorded) == []
    events = await every_event_relayed_and_consumed_once(replicas)
    confirmed, payable = await each_recovered_once(gateway, me, stuck, events)
    await one_ticket_each(gateway, me, confirmed)
    for event, ids in (("booking.confirmed", confirmed), ("payment.failed", payable)):
        if ids:
            await each_message_sent_once(replicas, gateway, me, event, ids)
    assert replicas.errors() == {}


async def crash_mid_saga(
    stack: Stack, me: dict[str, str], booked: list[dict[str, Any]]
) -> dict[int, int]:
    """Pay every booking at once through a third payment process that dies as soon as one
    card is charged: the payments it leaves unsettled, payment id -> booking id."""
    with stack.copy("payment", FAULT_INJECTION="payment.after_charge") as doomed:
        async with httpx.AsyncClient(base_url=doomed.url, timeout=15, trust_env=False) as direct:
            await asyncio.gather(
                *(
                    direct.post(
                        "/api/payments/pay",
                        json={"bookingId": b["id"], "amount": b["amountDue"], "card": SUCCESS_CARD},
                        headers=me,
                    )
                    for b in booked
                ),
                return_exceptions=True,
            )
        doomed.wait_stopped(timeout=10)
        assert not doomed.running
    rows = await query(
        stack.database_url("payment"),
        "SELECT id, booking_id FROM payments.payments WHERE booking_id = ANY(:ids) AND NOT settled",
        ids=[b["id"] for b in booked],
    )
    assert rows, "the crash left no payment to recover"
    return {row.id: row.booking_id for row in rows}


async def each_recovered_once(
    gateway: httpx.AsyncClient,
    me: dict[str, str],
    stuck: dict[int, int],
    events: list[dict[str, Any]],
) -> tuple[list[int], list[int]]:
    """Each payment ended once: one event of its outcome, and its booking confirmed once (the
    card charged) or payable again (not charged). The bookings confirmed, and those payable."""
    outcomes = ("payment.succeeded", "payment.failed", "payment.refunded")
    ended = Counter(e["payload"]["paymentId"] for e in events if e["type"] in outcomes)
    assert {p: ended[p] for p in stuck} == dict.fromkeys(stuck, 1)
    confirmed = Counter(
        e["payload"]["bookingId"] for e in events if e["type"] == "booking.confirmed"
    )
    outcome: dict[str, list[int]] = {"CONFIRMED": [], "PENDING": []}
    for payment_id, booking_id in stuck.items():
        payment = (await gateway.get(f"/api/payments/{payment_id}", headers=me)).json()
        booking = (await gateway.get(f"/api/bookings/{booking_id}", headers=me)).json()
        if payment["status"] == "SUCCEEDED":
            assert booking["status"] == "CONFIRMED" and confirmed[booking_id] == 1
        else:
            assert payment["status"] == "FAILED", payment
            assert booking["status"] == "PENDING" and not booking["paymentInProgress"]
            assert confirmed[booking_id] == 0
        outcome[booking["status"]].append(booking_id)
    return outcome["CONFIRMED"], outcome["PENDING"]


async def one_ticket_each(gateway: httpx.AsyncClient, me: dict[str, str], ids: list[int]) -> None:
    """The ticket service issued one ticket for each booking in `ids`, and no other."""

    async def tickets() -> Counter[int]:
        r = await gateway.get("/api/tickets", headers=me)
        return Counter(t["bookingId"] for t in r.json()["items"])

    async def all_issued() -> bool:
        return set(await tickets()) >= set(ids)

    await eventually(all_issued, within=30)
    await asyncio.sleep(1.0)  # a second ticket, if any, would be in by now
    assert await tickets() == dict.fromkeys(ids, 1)
