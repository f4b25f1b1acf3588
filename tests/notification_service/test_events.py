"""Events become one email and one SMS each, exactly once: a repeated event, a redelivered
entry and a consumer restarted mid-stream never make a second notification or a second send."""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from notification_service import service
from notification_service.consumers import GROUP, build_consumer, handlers
from shared.contracts import parse_event
from shared.contracts.bookings import BookingCancelled, BookingConfirmed, BookingExpired
from shared.contracts.flights import FlightCancelled
from shared.contracts.payments import PaymentEvent, PaymentFailed, PaymentRefunded
from shared.events import Event, stream_for
from shared.redis import Keys
from tests.conftest import REDIS_PREFIX
from tests.helpers import eventually
from tests.notification_service.conftest import (
    Notifications,
    RecordingSender,
    booking_event,
    make_event,
    publish,
    raw_event,
    ticket_issued,
)


def confirmed(user_id: int, booking_id: int) -> Event:
    return make_event(
        booking_event(
            BookingConfirmed,
            user_id=user_id,
            booking_id=booking_id,
            reference=f"R{booking_id % 100000:05d}",
            discount_code="FLY100",
        )
    )


def payment(contract: type[PaymentEvent], user_id: int, booking_id: int, **extra: object) -> Event:
    return make_event(
        contract.model_validate(
            {
                "payment_id": 11,
                "booking_id": booking_id,
                "user_id": user_id,
                "status": "FAILED",
                "amount": Decimal("4924.00"),
                "currency": "INR",
                **extra,
            }
        )
    )


async def test_the_handler_is_idempotent(notifications: Notifications) -> None:
    user_id, _headers = notifications.user()
    event = confirmed(user_id, 9_100_005_001)
    sessionmaker = notifications.app.state.db.sessionmaker
    # Straight through the handler twice (no processed-event record): the unique key holds.
    results = []
    for _ in range(2):
        async with sessionmaker() as session, session.begin():
            recorded = await service.record_event(
                session=session, event_id=event.id, event=parse_event(event)
            )
            results.append(recorded)
    assert len(results[0]) == 2 and results[1] == []
    rows = await notifications.of_event(event.id)
    assert [r.channel for r in rows] == ["email", "sms"]

    # Through a consumer twice (the same entry redelivered): the processed-event record holds.
    keys = Keys(f"{REDIS_PREFIX}idem-{uuid.uuid4().hex[:8]}:")
    consumer = build_consumer(
        sessionmaker=sessionmaker,
        redis=notifications.app.state.redis,
        keys=keys,
        settings=notifications.app.state.settings,
    )
    await consumer.ensure_groups()
    again = confirmed(user_id, 9_100_005_002)
    fields = again.to_fields()
    message_id = await publish(notifications.app.state.redis, keys, again)
    stream = stream_for(keys, again.type)
    await consumer.handle(stream, message_id, fields)
    await consumer.handle(stream, message_id, fields)
    assert [r.channel for r in await notifications.of_event(again.id)] == ["email", "sms"]

    async def all_sent() -> bool:
        rows = await notifications.of_event(event.id) + await notifications.of_event(again.id)
        return all(r.status == "sent" for r in rows)

    await eventually(all_sent)
    for row in await notifications.of_event(event.id) + await notifications.of_event(again.id):
        assert notifications.sender.delivered[row.id] == 1


async def test_a_consumer_restarted_mid_stream_notifies_each_event_once(
    notifications: Notifications,
) -> None:
    state = notifications.app.state
    redis, sessionmaker, settings = state.redis, state.db.sessionmaker, state.settings
    keys = Keys(f"{REDIS_PREFIX}restart-{uuid.uuid4().hex[:8]}:")  # a stream of its own
    user_id, headers = notifications.user()
    events = [confirmed(user_id, 9_100_006_000 + i) for i in range(6)]
    entries = [await publish(redis, keys, e) for e in events]
    # The relay published event 1 twice (at least once delivery): same id, another entry.
    entries.append(await publish(redis, keys, events[1]))
    stream = stream_for(keys, "booking.confirmed")

    first = build_consumer(
        sessionmaker=sessionmaker,
        redis=redis,
        keys=keys,
        settings=settings,
        consumer_name="first",
        batch_size=3,
    )
    await first.ensure_groups()
    ack = first.ack

    async def crash_before_ack(s: str, *message_ids: str) -> None:
        if kept := [m for m in message_ids if m != entries[2]]:
            await ack(s, *kept)

    first.ack = crash_before_ack  # type: ignore[method-assign]
    assert await first.read_once(block_ms=100) == 3  # events 0-2 handled; 2 never acknowledged
    # ...and it took two more entries just before it died, without handling them.
    taken = await redis.xreadgroup(GROUP, "first", {stream: ">"}, count=2)
    assert [m for m, _ in taken[0][1]] == entries[3:5]
    pending = await redis.xpending(stream, GROUP)
    assert pending["pending"] == 3

    await asyncio.sleep(0.05)  # the dead consumer's entries have been idle a while
    second = build_consumer(
        sessionmaker=sessionmaker,
        redis=redis,
        keys=keys,
        settings=settings,
        consumer_name="second",
        reclaim_idle_ms=1,
    )
    assert await second.reclaim_once() == 3  # 2 (already done: acknowledged only), 3, 4
    assert await second.read_once(block_ms=100) == 2  # 5, and 1 again (a duplicate)
    assert (await redis.xpending(stream, GROUP))["pending"] == 0

    for event in events:
        rows = await notifications.of_event(event.id)
        assert [r.channel for r in rows] == ["email", "sms"], event.id
        assert {r.user_id for r in rows} == {user_id}

    async def all_sent() -> bool:
        return len(
            await notifications.mine(headers, limit=100, event="booking.confirmed")
        ) == 12 and all(n["status"] == "sent" for n in await notifications.mine(headers, limit=100))

    await eventually(all_sent)
    for event in events:
        for row in await notifications.of_event(event.id):
            assert notifications.sender.delivered[row.id] == 1
    # Another dispatcher finds nothing left to send.
    extra = RecordingSender()
    assert await service.deliver_pending(sessionmaker=sessionmaker, sender=extra) == 0
    assert not extra.delivered


async def test_the_running_service_turns_every_event_type_into_messages(
    notifications: Notifications,
) -> None:
    user_id, headers = notifications.user()
    published = [
        confirmed(user_id, 9_100_007_001),
        make_event(
            booking_event(
                BookingCancelled,
                user_id=user_id,
                booking_id=9_100_007_002,
                reference="CNX7K2",
                status="CANCELLED",
                reason="USER_CANCELLED",
                refunded_amount=Decimal("4924.00"),
                was_paid=True,
                refund_payment_id=12,
            )
        ),
        make_event(
            booking_event(
                BookingExpired,
                user_id=user_id,
                booking_id=9_100_007_003,
                reference="EXP3Q9",
                status="EXPIRED",
                amount_due=Decimal("4924.00"),
            )
        ),
        payment(
            PaymentFailed,
            user_id,
            9_100_007_004,
            reference="PAY4F5",
            decline_code="card_declined",
            failure_code="CARD_DECLINED",
        ),
        payment(
            PaymentRefunded,
            user_id,
            9_100_007_002,
            payment_id=12,
            reference="CNX7K2",
            status="REFUNDED",
            card_last4="4242",
            reason="USER_CANCELLED",
        ),
        make_event(
            ticket_issued(
                user_id=user_id,
                booking_id=9_100_007_001,
                reference="R07001",
                ticket_numbers=["0982345678901", "0982345678902"],
            )
        ),
    ]
    # A flight's cancellation names nobody to tell (each booking on it is told by its own
    # booking.cancelled): a `userId` its producer never writes is not read either.
    flight = FlightCancelled(
        flight_id=9_100_000_002,
        flight_number="AI102",
        origin="DEL",
        destination="BOM",
        departure_time=datetime(2030, 1, 5, 0, 30, tzinfo=UTC),
    )
    nobody = make_event(flight)
    nobody.payload["userId"] = user_id
    for event in [*published, nobody]:
        await notifications.publish(event)
    # The same event again (a redelivery): nothing new.
    await notifications.publish(published[0])

    async def arrived() -> bool:
        items = await notifications.mine(headers, limit=100)
        return len(items) >= 12 and all(n["status"] == "sent" for n in items)

    await eventually(arrived)
    items = await notifications.mine(headers, limit=100)
    assert len(items) == 12
    by = {(n["event"], n["channel"]): n for n in items}
    assert len(by) == 12
    email = {event: by[(event, "email")]["message"] for event, _ in by}
    sms = {event: by[(event, "sms")]["message"] for event, _ in by}
    assert "R07001" in email["booking.confirmed"] and "INR 4674.00" in email["booking.confirmed"]
    assert "12A" in email["booking.confirmed"] and "Asha Rao" in email["booking.confirmed"]
    assert by[("booking.confirmed", "email")]["subject"] == "Booking R07001 confirmed"
    assert "INR 4924.00" in email["booking.cancelled"] and "CNX7K2" in sms["booking.cancelled"]
    assert "EXP3Q9" in sms["booking.expired"]
    assert "card_declined" in email["payment.failed"]
    assert "INR 4924.00" in sms["payment.refunded"]
    assert "0982345678901" in email["ticket.issued"] and "0982345678902" in sms["ticket.issued"]
    assert "FB/2026-27/000042" in email["ticket.issued"] and "AI101" in email["ticket.issued"]
    assert "INR 4674.00" in email["ticket.issued"]
    assert by[("booking.expired", "email")]["bookingId"] == 9_100_007_003
    assert by[("booking.expired", "email")]["reference"] == "EXP3Q9"
    assert await notifications.of_event(nobody.id) == []
    assert len(await notifications.of_event(published[0].id)) == 2


async def test_an_event_its_contract_refuses_fails_and_notifies_nobody(
    notifications: Notifications,
) -> None:
    """A payload without what the contract requires is a producer's bug: the handler fails
    (the consumer retries it, then dead-letters it) rather than send a message guessed from
    it."""
    user_id, _headers = notifications.user()
    broken = raw_event("booking.confirmed", bookingId=9_100_008_001, userId=user_id)
    handle = handlers()["booking.confirmed"]
    async with notifications.app.state.db.sessionmaker() as session:
        with pytest.raises(ValidationError):
            async with session.begin():
                await handle(broken, session)
    assert await notifications.of_event(broken.id) == []
