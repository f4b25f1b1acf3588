"""The internal routes other services use: reading a booking, and repricing it (discounts)."""

import uuid

from shared.clock import utcnow
from shared.contracts import parse_event
from shared.contracts.bookings import (
    BookingCancelled,
    BookingConfirmed,
    BookingCreated,
    BookingState,
    InternalBooking,
)
from shared.events import Event
from tests import helpers
from tests.booking_service.harness import new_flight
from tests.helpers import SUCCESS_CARD, assert_problem


async def test_the_payment_service_reads_any_booking(stack, new_user, service_headers):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "12A")
    r = await stack.bookings.get(f"/internal/bookings/{booking['id']}", headers=service_headers)
    assert r.status_code == 200
    view = r.json()
    assert (view["userId"], view["status"], view["amountDue"]) == (user_id, "PENDING", "4924.00")
    assert view["pendingExpiresAt"] == view["expiresAt"]
    r = await stack.bookings.get("/internal/bookings/999999999", headers=service_headers)
    assert_problem(r, 404, "BOOKING_NOT_FOUND")


async def test_a_discount_reprices_a_pending_booking_and_pay_must_match(
    stack, new_user, service_headers
):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "13A")
    url = f"/internal/bookings/{booking['id']}/discount"
    r = await stack.bookings.post(
        url,
        json={"code": "FLY100", "discount": "100.00"},
        headers=helpers.service_headers("discount", "booking"),
    )
    assert r.status_code == 200, r.text
    applied = r.json()
    assert (applied["amountBefore"], applied["amountAfter"]) == ("4924.00", "4824.00")
    b = await stack.booking(headers, booking["id"])
    assert b["discountCode"] == "FLY100"
    assert b["fare"]["discount"] == "100.00" and b["fare"]["total"] == "4824.00"
    assert b["amountDue"] == "4824.00"
    # The same code again is harmless; another code is refused.
    r = await stack.bookings.post(
        url,
        json={"code": "FLY100", "discount": "100.00"},
        headers=helpers.service_headers("discount", "booking"),
    )
    assert r.status_code == 200
    r = await stack.bookings.post(
        url,
        json={"code": "SAVE200", "discount": "200.00"},
        headers=helpers.service_headers("discount", "booking"),
    )
    assert_problem(r, 409, "DISCOUNT_ALREADY_APPLIED")
    # The old amount no longer pays; the new one does.
    assert_problem(await stack.pay(headers, booking, amount="4924.00"), 409, "AMOUNT_MISMATCH")
    r = await stack.pay(headers, booking, amount="4824.00", card=SUCCESS_CARD)
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == "4824.00"
    # A paid booking is not repriced.
    r = await stack.bookings.post(
        url,
        json={"code": "FLY100", "discount": "100.00"},
        headers=helpers.service_headers("discount", "booking"),
    )
    assert_problem(r, 409, "BOOKING_NOT_PENDING")


async def test_a_discount_larger_than_the_fare_is_refused(stack, new_user, service_headers):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "14A")
    r = await stack.bookings.post(
        f"/internal/bookings/{booking['id']}/discount",
        json={"code": "HUGE", "discount": "5000.00"},
        headers=helpers.service_headers("discount", "booking"),
    )
    assert_problem(r, 422, "DISCOUNT_TOO_LARGE")


async def test_health_ready_metrics_and_docs(stack):
    for client in (stack.bookings, stack.payments):
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert (await client.get("/metrics")).status_code == 200
        spec = await client.get("/openapi.json")
        assert spec.status_code == 200
        assert (await client.get("/docs")).status_code == 200
    paths = (await stack.bookings.get("/openapi.json")).json()["paths"]
    assert {"/api/bookings", "/api/bookings/create", "/api/bookings/{booking_id}/cancel"} <= set(
        paths
    )
    paths = (await stack.payments.get("/openapi.json")).json()["paths"]
    assert {"/api/payments/pay", "/api/payments/{payment_id}"} <= set(paths)


async def test_the_payment_steps_answer_the_bookings_state(stack, new_user, service_headers):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "15A")
    url = f"/internal/bookings/{booking['id']}"
    start = {"paymentId": 616161, "amount": booking["amountDue"], "userId": user_id}
    for _ in range(2):  # the repeat is the same answer
        r = await stack.bookings.post(f"{url}/payment-started", json=start, headers=service_headers)
        assert r.status_code == 200, r.text
        state = r.json()
        assert (state["id"], state["userId"]) == (booking["id"], user_id)
        assert state["status"] == "PENDING"
        assert (state["amountDue"], state["currency"]) == ("4924.00", "INR")
        assert (state["paymentId"], state["paymentInProgress"]) == (616161, True)
        assert state["pendingExpiresAt"] == state["expiresAt"] == booking["expiresAt"]
    r = await stack.bookings.post(
        f"{url}/payment-failed", json={"paymentId": 616161}, headers=service_headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["paymentId"], r.json()["paymentInProgress"]) == (None, False)


async def test_booking_confirmed_carries_the_booking(stack, new_user, service_headers):
    """The ticket service issues the ticket from the event, without asking for the booking."""
    _, headers = new_user()
    booking = await stack.paid(headers, await new_flight(), "16A", "16B")
    [event] = await stack.sql(
        "SELECT payload FROM bookings.outbox WHERE type = 'booking.confirmed' "
        "AND (payload->>'bookingId')::bigint = :b",
        b=booking["id"],
    )
    r = await stack.bookings.get(f"/internal/bookings/{booking['id']}", headers=service_headers)
    internal = r.json()
    del internal["pendingExpiresAt"]
    assert event.payload["booking"] == internal == booking
    assert event.payload["passengers"] == ["Passenger 1", "Passenger 2"]  # as before
    assert event.payload["seats"] == [
        {"flightId": booking["flightIds"][0], "seatNumber": n} for n in ("16A", "16B")
    ]


async def test_what_the_booking_service_writes_parses_with_its_contracts(
    stack, new_user, service_headers
):
    """Every `booking.*` event, and the internal answer, as the consumers read them."""
    _, headers = new_user()
    unpaid = await stack.booked(headers, await new_flight(), "17A")
    paid = await stack.paid(headers, await new_flight(), "17B")
    for b in (unpaid, paid):
        r = await stack.bookings.post(f"/api/bookings/{b['id']}/cancel", headers=headers)
        assert r.status_code == 200, r.text
    rows = await stack.sql(
        "SELECT type, version, payload FROM bookings.outbox "
        "WHERE (payload->>'bookingId')::bigint IN (:u, :p) ORDER BY id",
        u=unpaid["id"],
        p=paid["id"],
    )
    events = [
        parse_event(Event(uuid.uuid4(), r.type, "booking", utcnow(), r.payload, version=r.version))
        for r in rows
    ]
    assert [type(e) for e in events] == [
        BookingCreated,
        BookingCreated,
        BookingConfirmed,
        BookingCancelled,
        BookingCancelled,
    ]
    cancelled = {
        e.booking_id: (e, r.payload)
        for e, r in zip(events, rows, strict=True)
        if isinstance(e, BookingCancelled)
    }
    event, payload = cancelled[unpaid["id"]]
    assert (event.was_paid, event.refunded_amount, event.reason) == (False, 0, "USER_CANCELLED")
    assert "refundPaymentId" not in payload  # only a paid booking's says which refund
    event, payload = cancelled[paid["id"]]
    assert event.was_paid and payload["refundedAmount"] == paid["amountDue"]
    assert event.refund_payment_id == paid["paymentId"]
    r = await stack.bookings.get(f"/internal/bookings/{paid['id']}", headers=service_headers)
    for contract in (InternalBooking, BookingState):  # the payment service reads the state
        assert contract.model_validate(r.json()).id == paid["id"]
