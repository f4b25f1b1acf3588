"""A crash (or an unreachable booking service) between saga steps ends consistent.

A crash is simulated where the payment service's own fault-injection points are (the e2e test
kills the real process there): `crash_point` raises an exception no handler catches, so the
request dies on the spot, leaving the database as a killed process would.
"""

import asyncio
from datetime import UTC, datetime

import pytest

from payment_service import faults as payment_service
from tests.booking_service.harness import new_flight
from tests.helpers import SUCCESS_CARD, eventually
from tests.helpers import assert_problem as problem


class Crash(BaseException):
    """The process died here."""


@pytest.fixture
def crash_at(monkeypatch):
    def arm(point: str) -> None:
        def crash_point(settings, where: str) -> None:
            if where == point:
                raise Crash(where)

        monkeypatch.setattr(payment_service, "crash_point", crash_point)

    return arm


@pytest.fixture(scope="module")
async def short_holds(stacks):
    """A stack whose seat holds last 4 seconds (long enough to book and pay on a busy box)."""
    stack = await stacks(seat={"seat_hold_seconds": 4.0})
    yield stack
    await stack.close()


async def crashed_pay(stack, headers, booking, **kw):
    with pytest.raises(Crash):
        await stack.pay(headers, booking, card=SUCCESS_CARD, **kw)


async def test_charged_but_never_confirmed_is_confirmed_on_recovery(stack, new_user, crash_at):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "12A")
    crash_at("payment.after_charge")
    await crashed_pay(stack, headers, booking)

    [payment] = await stack.payments_of(booking["id"])
    assert (payment.status, payment.settled) == ("CHARGED", False)
    b = await stack.booking(headers, booking["id"])
    assert b["status"] == "PENDING" and b["paymentInProgress"] is True
    # Nobody else can pay or reprice meanwhile, and the sweeper leaves it alone.
    problem(await stack.pay(headers, booking, card=SUCCESS_CARD), 409, "PAYMENT_IN_PROGRESS")
    await stack.sweep_bookings()

    # A recent payment is not touched (its request may still be running) ...
    await stack.recover_payments(stuck_after_seconds=60)
    assert [p.status for p in await stack.payments_of(booking["id"])] == ["CHARGED"]
    # ... a stuck one is driven to its end.
    assert await stack.recover_payments() >= 1
    [payment] = await stack.payments_of(booking["id"])
    assert (payment.status, payment.settled) == ("SUCCEEDED", True)
    assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"
    assert (await stack.seat_status(headers, flight_id))["12A"] == "sold"
    assert len(await stack.charges(booking["id"])) == 1
    assert "payment.succeeded" in await stack.events(booking["id"])


async def test_charged_and_the_hold_ran_out_meanwhile_is_refunded_on_recovery(
    short_holds, new_user, crash_at
):
    stack = short_holds
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "13A")
    crash_at("payment.after_charge")
    await crashed_pay(stack, headers, booking)
    # The hold's time passes while the payment service is down; the sweeper must not expire
    # a booking whose payment is in flight (money was taken).
    expires = datetime.fromisoformat(booking["expiresAt"])
    await asyncio.sleep((expires - datetime.now(UTC)).total_seconds() + 0.5)
    await stack.sweep_bookings()
    assert (await stack.booking(headers, booking["id"]))["status"] == "PENDING"

    await stack.recover_payments()
    [payment] = await stack.payments_of(booking["id"])
    assert (payment.status, payment.settled) == ("REFUNDED", True)
    b = await stack.booking(headers, booking["id"])
    assert b["status"] == "EXPIRED" and b["statusReason"].startswith("HOLD_EXPIRED")
    [charge] = await stack.charges(booking["id"])
    assert charge.refund_id is not None
    assert (await stack.seat_status(headers, flight_id))["13A"] == "available"


async def test_crash_before_the_charge_voids_the_attempt_and_the_booking_is_payable(
    stack, new_user, crash_at
):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "14A")
    crash_at("payment.before_charge")
    await crashed_pay(stack, headers, booking)
    [payment] = await stack.payments_of(booking["id"])
    assert payment.status == "PENDING"
    assert (await stack.booking(headers, booking["id"]))["paymentInProgress"] is True

    await stack.recover_payments()
    [payment] = await stack.payments_of(booking["id"])
    assert (payment.status, payment.settled) == ("FAILED", True)
    assert (await stack.booking(headers, booking["id"]))["paymentInProgress"] is False
    # The dead request can never charge now (the gateway voided the attempt) ...
    gateway = stack.payment_app.state.gateway
    from payment_service.card_gateway import default_card

    late = await gateway.charge(
        payment_id=payment.id, amount=payment.amount, currency="INR", card=default_card()
    )
    assert late.status == "voided"
    # ... and the traveller pays normally.
    crash_at("nowhere")
    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    assert r.status_code == 201, r.text
    assert len(await stack.charges(booking["id"])) == 1


async def test_booking_service_unreachable_at_confirm_answers_202_and_recovery_finishes(
    stack, new_user
):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "15A")
    stack.booking_link.failing = {"/confirm"}
    try:
        r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    finally:
        stack.booking_link.failing = set()
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "CHARGED"
    payment_id = r.json()["paymentId"]
    await stack.recover_payments()
    r = await stack.payments.get(f"/api/payments/{payment_id}", headers=headers)
    assert r.json()["status"] == "SUCCEEDED" and r.json()["bookingStatus"] == "CONFIRMED"
    assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"
    assert len(await stack.charges(booking["id"])) == 1


async def test_booking_service_unreachable_after_a_decline_is_told_later(stack, new_user):
    from tests.helpers import DECLINE_CARD

    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "16A")
    stack.booking_link.failing = {"/payment-failed"}
    try:
        r = await stack.pay(headers, booking, card=DECLINE_CARD)
    finally:
        stack.booking_link.failing = set()
    problem(r, 402, "PAYMENT_DECLINED")
    assert (await stack.booking(headers, booking["id"]))["paymentInProgress"] is True
    await stack.recover_payments()
    assert (await stack.booking(headers, booking["id"]))["paymentInProgress"] is False
    assert [(p.status, p.settled) for p in await stack.payments_of(booking["id"])] == [
        ("FAILED", True)
    ]


async def test_a_key_held_by_a_dead_request_is_taken_over_after_the_lock_time(
    stack, new_user, crash_at
):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "17A")
    crash_at("payment.after_charge")
    await crashed_pay(stack, headers, booking, key="dead-key")
    crash_at("nowhere")
    r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="dead-key")
    problem(r, 409, "IDEMPOTENCY_IN_PROGRESS")
    await stack.recover_payments()
    await stack.sql(
        "UPDATE payments.idempotency_keys SET locked_at = now() - interval '10 minutes' "
        "WHERE key = 'dead-key'"
    )
    r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="dead-key")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "SUCCEEDED"
    [payment] = await stack.payments_of(booking["id"])
    assert r.json()["paymentId"] == payment.id
    assert len(await stack.charges(booking["id"])) == 1


async def test_the_recovery_loop_runs_by_itself(stacks, new_user, crash_at):
    stack = await stacks(
        payment={"payment_recovery_seconds": 0.3, "payment_stuck_after_seconds": 2.0}
    )
    try:
        _, headers = new_user()
        booking = await stack.booked(headers, await new_flight(), "18A")
        crash_at("payment.after_charge")
        await crashed_pay(stack, headers, booking)

        # Wait for the end of the saga itself (the payment settled), not for a step before it:
        # the booking turns CONFIRMED a moment before the payment's last step commits.
        async def settled() -> bool:
            return [p.settled for p in await stack.payments_of(booking["id"])] == [True]

        await eventually(settled)
        [payment] = await stack.payments_of(booking["id"])
        assert payment.status == "SUCCEEDED"
        assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"
    finally:
        await stack.close()  # its eager loop would recover other tests' crashes too


async def test_a_retry_with_the_key_after_an_upstream_failure_pays(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "19A")
    stack.booking_link.failing = {"/payment-started"}
    try:
        r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="flaky")
    finally:
        stack.booking_link.failing = set()
    problem(r, 503, "SERVICE_UNAVAILABLE")  # not stored: the key is free again
    r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="flaky")
    assert r.status_code == 201, r.text
    await stack.recover_payments()
    assert [(p.status, p.settled) for p in await stack.payments_of(booking["id"])] == [
        ("FAILED", True),
        ("SUCCEEDED", True),
    ]
    assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"
    assert len(await stack.charges(booking["id"])) == 1


async def test_an_attempt_the_recovery_gave_up_is_never_charged(stack, new_user, monkeypatch):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "20A")
    gateway = stack.payment_app.state.gateway
    charge = gateway.charge

    async def slow_charge(**kw):  # the recovery loop voids the attempt before it charges
        await gateway.void(payment_id=kw["payment_id"], amount=kw["amount"], currency="INR")
        return await charge(**kw)

    monkeypatch.setattr(gateway, "charge", slow_charge)
    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    monkeypatch.undo()
    problem(r, 503, "PAYMENT_ABANDONED")
    assert await stack.charges(booking["id"]) == []
    assert [(p.status, p.settled) for p in await stack.payments_of(booking["id"])] == [
        ("FAILED", True)
    ]
    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    assert r.status_code == 201, r.text
