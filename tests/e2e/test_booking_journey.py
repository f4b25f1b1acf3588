"""The money path through the gateway, with real processes: search -> hold -> book -> pay,
and a payment process killed mid-saga and restarted.
"""

import httpx
import pytest

from tests.e2e.checks import create_flight, seats_available_in_search
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Stack
from tests.helpers import SUCCESS_CARD, assert_problem, bearer, eventually

pytestmark = pytest.mark.e2e


async def test_search_hold_book_pay(
    gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str], reference_data: None
) -> None:
    user = await signup(name="Asha Rao")
    me = bearer(user["token"])
    flight = await create_flight(gateway, admin, days=5)
    flight_id = flight["flightId"]
    before = await seats_available_in_search(gateway, me, flight)
    assert before is not None and before > 0

    seat_map = (await gateway.get(f"/api/seats/{flight_id}", headers=me)).json()
    seat = next(s["seatNumber"] for s in seat_map["seats"] if s["cabin"] == "economy")
    hold = await gateway.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumber": seat}, headers=me
    )
    assert hold.status_code == 201, hold.text

    # The seed's form: the caller's live hold on that flight, priced by the server.
    booking = await gateway.post(
        "/api/bookings/create", json={"flightId": flight_id, "seats": 1}, headers=me
    )
    assert booking.status_code == 201, booking.text
    b = booking.json()
    assert b["status"] == "PENDING" and b["passengers"][0]["name"] == "Asha Rao"
    assert b["fare"]["total"] == b["amountDue"] == "4924.00"
    # The seed's client price is refused; another user cannot see the booking.
    assert_problem(
        await gateway.post(
            "/api/bookings", json={"holdIds": [hold.json()["holdId"]], "price": 5000}, headers=me
        ),
        409,
        "PRICE_CHANGED",
    )
    other = bearer((await signup())["token"])
    assert_problem(await gateway.get(f"/api/bookings/{b['id']}", headers=other), 404)
    assert_problem(
        await gateway.post(
            "/api/payments/pay", json={"bookingId": b["id"], "amount": "4924.00"}, headers=other
        ),
        404,
    )
    assert_problem(
        await gateway.post(
            "/api/payments/pay", json={"bookingId": b["id"], "amount": "1.00"}, headers=me
        ),
        409,
        "AMOUNT_MISMATCH",
    )

    paid = await gateway.post(
        "/api/payments/pay",
        json={"bookingId": b["id"], "amount": b["amountDue"], "card": SUCCESS_CARD},
        headers={**me, "Idempotency-Key": f"journey-{b['id']}"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "SUCCEEDED" and paid.json()["bookingStatus"] == "CONFIRMED"

    confirmed = await gateway.get(f"/api/bookings/{b['id']}/{user['userId']}", headers=me)
    assert confirmed.json()["status"] == "CONFIRMED"
    seats = (await gateway.get(f"/api/seats/{flight_id}", headers=me)).json()["seats"]
    assert next(s for s in seats if s["seatNumber"] == seat)["status"] == "sold"

    async def search_shows_it() -> bool:
        return await seats_available_in_search(gateway, me, flight) == before - 1

    await eventually(search_shows_it, within=20)


async def test_the_payment_process_killed_mid_saga_recovers_on_restart(
    stack: Stack,
    gateway: httpx.AsyncClient,
    signup: SignUp,
    admin: dict[str, str],
    reference_data: None,
) -> None:
    user = await signup()
    me = bearer(user["token"])
    flight = await create_flight(gateway, admin, days=6)
    hold = await gateway.post(
        "/api/seats/lock", json={"flightId": flight["flightId"], "seatNumber": "20C"}, headers=me
    )
    assert hold.status_code == 201, hold.text
    b = (
        await gateway.post("/api/bookings", json={"holdIds": [hold.json()["holdId"]]}, headers=me)
    ).json()

    payment = stack.services["payment"]
    original_env = dict(payment.env)
    try:
        # The payment process dies right after the card is charged, before the booking is
        # confirmed: the worst moment (money taken, seats not sold).
        stack.stop_service("payment")
        payment.env["FAULT_INJECTION"] = "payment.after_charge"
        stack.start_service("payment")
        r = await gateway.post(
            "/api/payments/pay",
            json={"bookingId": b["id"], "amount": b["amountDue"], "card": SUCCESS_CARD},
            headers=me,
        )
        assert r.status_code in (502, 503, 504), r.text
        payment.wait_stopped(timeout=10)
        assert not payment.running
        pending = (await gateway.get(f"/api/bookings/{b['id']}", headers=me)).json()
        assert pending["status"] == "PENDING" and pending["paymentInProgress"] is True

        # Restarted (normally): its recovery loop finds the charged payment and finishes it.
        payment.env.clear()
        payment.env.update(original_env)
        payment.env["PAYMENT_STUCK_AFTER_SECONDS"] = "1"
        payment.env["PAYMENT_RECOVERY_SECONDS"] = "0.5"
        stack.start_service("payment")

        async def confirmed() -> bool:
            r = await gateway.get(f"/api/bookings/{b['id']}", headers=me)
            return r.json()["status"] == "CONFIRMED"

        await eventually(confirmed, within=20)
        payments = await gateway.get("/api/payments", params={"bookingId": b["id"]}, headers=me)
        assert [p["status"] for p in payments.json()["items"]] == ["SUCCEEDED"]
        seats = (await gateway.get(f"/api/seats/{flight['flightId']}", headers=me)).json()
        assert next(s for s in seats["seats"] if s["seatNumber"] == "20C")["status"] == "sold"
        # Paying again is refused: one charge.
        assert_problem(
            await gateway.post(
                "/api/payments/pay",
                json={"bookingId": b["id"], "amount": b["amountDue"], "card": SUCCESS_CARD},
                headers=me,
            ),
            409,
            "BOOKING_ALREADY_PAID",
        )
    finally:
        payment.env.clear()
        payment.env.update(original_env)
        if not payment.running:
            stack.start_service("payment")
        else:  # leave it as the other tests expect it: default settings
            stack.stop_service("payment")
            stack.start_service("payment")
