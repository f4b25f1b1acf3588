"""Idempotency-Key, and concurrent pays on one booking: exactly one charge."""

import asyncio
from collections import Counter

import pytest

from tests.booking_service.harness import new_flight
from tests.helpers import DECLINE_CARD, SUCCESS_CARD
from tests.helpers import assert_problem as problem


async def test_same_key_same_body_replays_the_first_response(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "12A")
    first = await stack.pay(headers, booking, card=SUCCESS_CARD, key="k-1")
    assert first.status_code == 201, first.text
    again = await stack.pay(headers, booking, card=SUCCESS_CARD, key="k-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await stack.charges(booking["id"])) == 1


async def test_same_key_other_body_is_422(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "13A")
    assert (await stack.pay(headers, booking, card=SUCCESS_CARD, key="k-2")).status_code == 201
    other = {**SUCCESS_CARD, "number": "5555555555554444"}
    problem(await stack.pay(headers, booking, card=other, key="k-2"), 422, "IDEMPOTENCY_KEY_REUSED")
    problem(
        await stack.pay(headers, booking, amount="1.00", key="k-2"), 422, "IDEMPOTENCY_KEY_REUSED"
    )


async def test_a_declined_response_is_replayed_and_a_new_key_pays(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "14A")
    first = await stack.pay(headers, booking, card=DECLINE_CARD, key="k-3")
    problem(first, 402, "PAYMENT_DECLINED")
    again = await stack.pay(headers, booking, card=DECLINE_CARD, key="k-3")
    assert again.status_code == 402 and again.json() == first.json()
    assert again.headers["content-type"].startswith("application/problem+json")
    r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="k-4")
    assert r.status_code == 201, r.text


async def test_keys_are_per_user(stack, new_user):
    _, alice = new_user()
    _, bob = new_user()
    a = await stack.booked(alice, await new_flight(), "15A")
    b = await stack.booked(bob, await new_flight(), "15A")
    assert (await stack.pay(alice, a, card=SUCCESS_CARD, key="shared")).status_code == 201
    r = await stack.pay(bob, b, card=SUCCESS_CARD, key="shared")
    assert r.status_code == 201 and r.json()["bookingId"] == b["id"]


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\tkey"])
async def test_an_unusable_key_is_422(stack, new_user, key):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "16A")
    r = await stack.payments.post(
        "/api/payments/pay",
        json={"bookingId": booking["id"], "amount": booking["amountDue"]},
        headers={**headers, "Idempotency-Key": key},
    )
    problem(r, 422, "IDEMPOTENCY_KEY_INVALID")


async def test_twenty_concurrent_pays_without_a_key_charge_once(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "17A")
    answers = await asyncio.gather(
        *(stack.pay(headers, booking, card=SUCCESS_CARD) for _ in range(20))
    )
    statuses = Counter(r.status_code for r in answers)
    assert statuses[201] == 1, [r.text for r in answers]
    assert statuses[409] == 19, statuses
    codes = {r.json()["code"] for r in answers if r.status_code == 409}
    assert codes <= {"PAYMENT_IN_PROGRESS", "BOOKING_ALREADY_PAID"}, codes
    assert len(await stack.charges(booking["id"])) == 1
    assert [p.status for p in await stack.payments_of(booking["id"])] == ["SUCCEEDED"]
    assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"
    assert (await stack.seat_status(headers, flight_id))["17A"] == "sold"


async def test_twenty_concurrent_pays_with_one_key_charge_once(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "18A")
    answers = await asyncio.gather(
        *(stack.pay(headers, booking, card=SUCCESS_CARD, key="race-key") for _ in range(20))
    )
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {201, 409}, [r.text for r in answers]
    paid = [r.json() for r in answers if r.status_code == 201]
    assert paid and len({p["paymentId"] for p in paid}) == 1  # the first, or its replays
    codes = {r.json()["code"] for r in answers if r.status_code == 409}
    assert codes <= {"IDEMPOTENCY_IN_PROGRESS"}, codes
    assert len(await stack.charges(booking["id"])) == 1
    assert [p.status for p in await stack.payments_of(booking["id"])] == ["SUCCEEDED"]
    # Once done, every retry with the key is a replay.
    r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="race-key")
    assert r.status_code == 201 and r.json()["paymentId"] == paid[0]["paymentId"]


async def test_concurrent_pays_with_different_keys_charge_once(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "19A")
    answers = await asyncio.gather(
        *(stack.pay(headers, booking, card=SUCCESS_CARD, key=f"k-{i}") for i in range(20))
    )
    statuses = Counter(r.status_code for r in answers)
    assert statuses[201] == 1 and statuses[409] == 19, [r.text for r in answers]
    assert len(await stack.charges(booking["id"])) == 1


async def test_attempts_by_someone_else_do_not_keep_the_owner_from_paying(stack, new_user):
    """Another user's attempt holds the booking's one in-flight slot until the booking refuses
    it; the owner's pay waits for that instead of answering PAYMENT_IN_PROGRESS."""
    _, owner = new_user()
    _, intruder = new_user()
    booking = await stack.booked(owner, await new_flight(), "21A")
    answers = await asyncio.gather(
        *(stack.pay(intruder, booking, card=SUCCESS_CARD) for _ in range(5)),
        stack.pay(owner, booking, card=SUCCESS_CARD),
        *(stack.pay(intruder, booking, card=SUCCESS_CARD) for _ in range(5)),
    )
    mine = answers[5]
    assert mine.status_code == 201, mine.text
    assert {a.status_code for i, a in enumerate(answers) if i != 5} == {404}
    assert len(await stack.charges(booking["id"])) == 1
