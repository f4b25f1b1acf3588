"""Cancellation (by the traveller, by the airline) and expiry of unpaid bookings."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts.flights import FlightCancelled
from shared.events import Event, stream_for
from shared.redis import Keys
from tests.booking_service.harness import cancel_flight, new_flight, run_out
from tests.conftest import REDIS_PREFIX
from tests.helpers import SUCCESS_CARD, assert_problem, eventually


@pytest.fixture(scope="module")
async def short_holds(stacks):
    """A stack whose seat holds last 1.5 seconds."""
    stack = await stacks(seat={"seat_hold_seconds": 1.5})
    yield stack
    await stack.close()


async def test_cancelling_a_pending_booking_releases_its_holds(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "30A")
    assert (await stack.seat_status(headers, flight_id))["30A"] == "held"
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["statusReason"] == "USER_CANCELLED"
    assert cancelled["expiresAt"] is None
    assert (await stack.seat_status(headers, flight_id))["30A"] == "available"
    # Cancelling again is harmless.
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    assert await stack.events(booking["id"]) == ["booking.created", "booking.cancelled"]
    assert await stack.payments_of(booking["id"]) == []
    # A cancelled booking cannot be paid.
    assert_problem(await stack.pay(headers, booking), 409, "BOOKING_NOT_PAYABLE")


async def test_cancelling_a_confirmed_booking_refunds_it_and_frees_the_seats(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.paid(headers, flight_id, "30B", "30C")
    assert booking["status"] == "CONFIRMED"
    assert (await stack.seat_status(headers, flight_id))["30B"] == "sold"
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["refundedAmount"] == booking["amountDue"]
    seats = await stack.seat_status(headers, flight_id)
    assert seats["30B"] == seats["30C"] == "available"
    payment = (await stack.payments_of(booking["id"]))[0]
    assert payment.status == "REFUNDED"
    r = await stack.payments.get(f"/api/payments/{payment.id}", headers=headers)
    assert r.json()["status"] == "REFUNDED" and r.json()["bookingStatus"] == "CANCELLED"
    [charge] = await stack.charges(booking["id"])
    assert charge.refund_id is not None
    assert sorted(await stack.events(booking["id"])) == [
        "booking.cancelled",
        "booking.confirmed",
        "booking.created",
        "payment.refunded",
        "payment.succeeded",
    ]
    # Again: no second refund.
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200
    assert (
        len(
            await stack.sql("SELECT 1 FROM payments.refunds WHERE booking_id = :b", b=booking["id"])
        )
        == 1
    )


async def test_a_booking_with_a_payment_running_cannot_be_cancelled(
    stack, new_user, service_headers
):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "11A")
    r = await stack.bookings.post(
        f"/internal/bookings/{booking['id']}/payment-started",
        json={"paymentId": 424242, "amount": booking["amountDue"], "userId": user_id},
        headers=service_headers,
    )
    assert r.status_code == 200, r.text
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert_problem(r, 409, "PAYMENT_IN_PROGRESS")
    r = await stack.bookings.post(
        f"/internal/bookings/{booking['id']}/payment-failed",
        json={"paymentId": 424242},
        headers=service_headers,
    )
    assert r.status_code == 200
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"


async def test_the_airline_cancelling_a_flight_cancels_and_refunds_its_bookings(stack, new_user):
    _, alice = new_user()
    _, bob = new_user()
    flight_id = await new_flight()
    other_flight = await new_flight()
    paid = await stack.paid(alice, flight_id, "12A")
    pending = await stack.booked(bob, flight_id, "12B")
    elsewhere = await stack.paid(alice, other_flight, "12A")

    await cancel_flight(flight_id)

    async def done() -> bool:
        a = await stack.booking(alice, paid["id"])
        b = await stack.booking(bob, pending["id"])
        return a["status"] == b["status"] == "CANCELLED"

    await eventually(done)
    a = await stack.booking(alice, paid["id"])
    assert a["statusReason"] == "FLIGHT_CANCELLED"
    assert a["refundedAmount"] == paid["amountDue"]
    assert [p.status for p in await stack.payments_of(paid["id"])] == ["REFUNDED"]
    assert (await stack.booking(bob, pending["id"]))["statusReason"] == "FLIGHT_CANCELLED"
    assert (await stack.booking(alice, elsewhere["id"]))["status"] == "CONFIRMED"
    events = await stack.events(paid["id"])
    assert events.count("booking.cancelled") == 1 and events.count("payment.refunded") == 1


async def test_a_repeated_flight_cancelled_event_does_no_work_twice(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    paid = await stack.paid(headers, flight_id, "13A")
    cancelled = FlightCancelled(
        flight_id=flight_id,
        flight_number="QB1",
        departure_time=datetime.now(UTC) + timedelta(days=3),
        origin="DEL",
        destination="BOM",
    )
    event = Event(
        id=uuid.uuid4(),
        type=cancelled.type,
        source="flight-search",
        occurred_at=datetime.now(UTC),
        payload=cancelled.payload(),
        version=cancelled.version,
    )
    stream = stream_for(Keys(REDIS_PREFIX), event.type)
    redis = stack.booking_app.state.redis
    for _ in range(3):
        await redis.xadd(stream, event.to_fields())

    async def cancelled() -> bool:
        return (await stack.booking(headers, paid["id"]))["status"] == "CANCELLED"

    await eventually(cancelled)
    await asyncio.sleep(1.0)  # time for the repeats to be read
    handled = await stack.sql(
        "SELECT count(*) AS n FROM bookings.processed_events WHERE event_id = :e", e=event.id
    )
    assert handled[0].n == 1
    assert (await stack.events(paid["id"])).count("booking.cancelled") == 1


async def test_an_expired_booking_cannot_be_cancelled(short_holds, new_user):
    _, headers = new_user()
    booking = await short_holds.booked(headers, await new_flight(), "14A")

    async def expired() -> bool:
        return (await short_holds.booking(headers, booking["id"]))["status"] == "EXPIRED"

    await eventually(expired)
    r = await short_holds.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert_problem(r, 409, "BOOKING_NOT_CANCELLABLE")


async def test_the_sweeper_expires_unpaid_bookings_and_the_seats_come_back(short_holds, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await short_holds.booked(headers, flight_id, "15A", "15B")

    async def expired() -> bool:
        return (await short_holds.booking(headers, booking["id"]))["status"] == "EXPIRED"

    await eventually(expired)
    b = await short_holds.booking(headers, booking["id"])
    assert b["statusReason"].startswith("HOLD_EXPIRED")
    assert b["expiresAt"] is None
    seats = await short_holds.seat_status(headers, flight_id)
    assert seats["15A"] == seats["15B"] == "available"
    assert await short_holds.events(booking["id"]) == ["booking.created", "booking.expired"]


async def test_paying_after_the_hold_ran_out_is_refused_and_nothing_is_charged(
    short_holds, new_user
):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await short_holds.booked(headers, flight_id, "16A")
    await asyncio.sleep(
        (datetime.fromisoformat(booking["expiresAt"]) - datetime.now(UTC)).total_seconds() + 0.1
    )
    r = await short_holds.pay(headers, booking, card=SUCCESS_CARD)
    assert_problem(r, 409, "HOLD_EXPIRED")
    assert await short_holds.charges(booking["id"]) == []
    assert (await short_holds.booking(headers, booking["id"]))["status"] == "EXPIRED"
    assert (await short_holds.seat_status(headers, flight_id))["16A"] == "available"


async def test_the_sweeper_waits_for_a_payment_in_progress(short_holds, new_user, service_headers):
    user_id, headers = new_user()
    booking = await short_holds.booked(headers, await new_flight(), "17A")
    r = await short_holds.bookings.post(
        f"/internal/bookings/{booking['id']}/payment-started",
        json={"paymentId": 515151, "amount": booking["amountDue"], "userId": user_id},
        headers=service_headers,
    )
    assert r.status_code == 200
    await asyncio.sleep(2.5)
    await short_holds.sweep_bookings()
    assert (await short_holds.booking(headers, booking["id"]))["status"] == "PENDING"
    await short_holds.bookings.post(
        f"/internal/bookings/{booking['id']}/payment-failed",
        json={"paymentId": 515151},
        headers=service_headers,
    )
    await short_holds.sweep_bookings()
    assert (await short_holds.booking(headers, booking["id"]))["status"] == "EXPIRED"


async def test_a_hold_that_runs_out_during_the_payment_is_refunded(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "18A")
    r = await stack.book(headers, holdIds=[hold["holdId"]])
    booking = r.json()
    await run_out(stack, hold)
    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    body = assert_problem(r, 409, "HOLD_EXPIRED")
    assert body["refunded"] is True
    assert body["paymentStatus"] == "REFUNDED"
    assert body["bookingStatus"] == "EXPIRED"
    b = await stack.booking(headers, booking["id"])
    assert b["status"] == "EXPIRED" and b["statusReason"].startswith("HOLD_EXPIRED")
    [charge] = await stack.charges(booking["id"])
    assert charge.refund_id is not None
    [payment] = await stack.payments_of(booking["id"])
    assert (payment.status, payment.settled) == ("REFUNDED", True)
    assert (await stack.seat_status(headers, flight_id))["18A"] == "available"


async def test_a_one_stop_booking_is_both_flights_or_neither(stack, new_user):
    _, headers = new_user()
    first = await new_flight(origin="DEL", destination="BOM", departs_in=timedelta(days=2))
    second = await new_flight(
        origin="BOM", destination="GOI", departs_in=timedelta(days=2, hours=3)
    )
    h1 = await stack.hold(headers, first, "19A")
    h2 = await stack.hold(headers, second, "19A")
    booking = (await stack.book(headers, holdIds=[h1["holdId"], h2["holdId"]])).json()
    await run_out(stack, h2)  # the second flight's hold runs out: the first must not stay sold
    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    assert_problem(r, 409, "HOLD_EXPIRED")
    assert (await stack.seat_status(headers, first))["19A"] == "available"
    assert (await stack.seat_status(headers, second))["19A"] == "available"
    assert (await stack.booking(headers, booking["id"]))["status"] == "EXPIRED"
    [charge] = await stack.charges(booking["id"])
    assert charge.refund_id is not None


async def test_the_sweeper_skips_a_booking_another_transaction_holds(stack, new_user):
    from booking_service import lifecycle, service

    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "20A")
    state = stack.booking_app.state
    async with state.db.sessionmaker() as holder, holder.begin():
        assert await service.lock_booking(holder, booking["id"]) is not None
        async with state.db.sessionmaker() as session:
            skipped = await lifecycle.drive_cancellation(
                session=session, clients=state.clients, booking_id=booking["id"], wait=False
            )
        assert skipped is None
    async with state.db.sessionmaker() as session:
        done = await lifecycle.drive_cancellation(
            session=session, clients=state.clients, booking_id=booking["id"], wait=False
        )
    assert done is not None and done.status == "PENDING"  # no cancellation asked: untouched
    assert [s.hold_id for s in done.segments] == [booking["segments"][0]["holdId"]]
