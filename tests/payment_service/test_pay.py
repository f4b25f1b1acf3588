"""POST /api/payments/pay and GET /api/payments/{id}."""

import json

import pytest

from shared.contracts.payments import Payment, PaymentRefunded, PaymentSucceeded, RefundRequest
from shared.events import Event
from tests import helpers
from tests.booking_service.harness import new_flight
from tests.conftest import REDIS_PREFIX
from tests.helpers import DECLINE_CARD, NO_FUNDS_CARD, SUCCESS_CARD, eventually
from tests.helpers import assert_problem as problem


async def test_paying_confirms_the_booking_and_sells_the_seats(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "12A", "12B")
    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["status"] == "SUCCEEDED"
    assert payment["bookingId"] == booking["id"]
    assert payment["reference"] == booking["reference"]
    assert payment["amount"] == booking["amountDue"] == "9848.00"
    assert payment["currency"] == "INR"
    assert payment["cardLast4"] == "4242" and payment["cardBrand"] == "visa"
    assert payment["declineCode"] is None
    assert payment["bookingStatus"] == "CONFIRMED"
    b = await stack.booking(headers, booking["id"])
    assert b["status"] == "CONFIRMED" and b["paymentId"] == payment["paymentId"]
    assert b["expiresAt"] is None
    seats = await stack.seat_status(headers, flight_id)
    assert seats["12A"] == seats["12B"] == "sold"
    r = await stack.payments.get(f"/api/payments/{payment['paymentId']}", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED"
    r = await stack.payments.get(
        "/api/payments", params={"bookingId": booking["id"]}, headers=headers
    )
    assert [p["paymentId"] for p in r.json()["items"]] == [payment["paymentId"]]
    assert sorted(await stack.events(booking["id"])) == [
        "booking.confirmed",
        "booking.created",
        "payment.succeeded",
    ]
    assert len(await stack.charges(booking["id"])) == 1


async def test_the_seeds_pay_without_a_card_uses_the_test_card(stack, new_user):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "13A")
    # The seed's body: bookingId, amount (a number), userId.
    r = await stack.pay(headers, booking, amount=4924, userId=user_id)
    assert r.status_code == 201, r.text
    assert r.json()["cardLast4"] == "4242"


@pytest.mark.parametrize("amount", ["4923.99", "5000", 1, "0.00", "4924.01"])
async def test_an_amount_other_than_the_amount_due_is_refused(stack, new_user, amount):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "14A")
    body = problem(await stack.pay(headers, booking, amount=amount), 409, "AMOUNT_MISMATCH")
    assert body["amountDue"] == "4924.00"
    assert await stack.payments_of(booking["id"]) == []
    assert (await stack.booking(headers, booking["id"]))["status"] == "PENDING"


async def test_a_user_id_that_is_not_the_callers_is_forbidden(stack, new_user):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "15A")
    problem(await stack.pay(headers, booking, userId=user_id + 1), 403, "FORBIDDEN")
    assert await stack.payments_of(booking["id"]) == []


async def test_someone_elses_booking_and_payment_are_404(stack, new_user):
    _, alice = new_user()
    _, bob = new_user()
    booking = await stack.booked(alice, await new_flight(), "16A")
    problem(await stack.pay(bob, booking, card=SUCCESS_CARD), 404, "BOOKING_NOT_FOUND")
    r = await stack.pay(alice, booking, card=SUCCESS_CARD)
    payment_id = r.json()["paymentId"]
    problem(
        await stack.payments.get(f"/api/payments/{payment_id}", headers=bob),
        404,
        "PAYMENT_NOT_FOUND",
    )
    problem(
        await stack.payments.get("/api/payments/999999999", headers=bob), 404, "PAYMENT_NOT_FOUND"
    )
    r = await stack.payments.get("/api/payments", params={"bookingId": booking["id"]}, headers=bob)
    assert r.json()["items"] == []


async def test_paying_a_paid_booking_is_409(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "17A")
    assert (await stack.pay(headers, booking, card=SUCCESS_CARD)).status_code == 201
    problem(await stack.pay(headers, booking, card=SUCCESS_CARD), 409, "BOOKING_ALREADY_PAID")
    assert len(await stack.charges(booking["id"])) == 1


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [(DECLINE_CARD, "card_declined"), (NO_FUNDS_CARD, "insufficient_funds")],
)
async def test_a_decline_leaves_the_booking_payable_and_a_retry_confirms(
    stack, new_user, card, decline_code
):
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "18A")
    body = problem(await stack.pay(headers, booking, card=card), 402, "PAYMENT_DECLINED")
    assert body["declineCode"] == decline_code
    assert body["bookingStatus"] == "PENDING"
    b = await stack.booking(headers, booking["id"])
    assert b["status"] == "PENDING" and b["paymentInProgress"] is False
    assert (await stack.seat_status(headers, flight_id))["18A"] == "held"
    r = await stack.payments.get(f"/api/payments/{body['paymentId']}", headers=headers)
    assert (r.json()["status"], r.json()["declineCode"]) == ("FAILED", decline_code)

    r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    assert r.status_code == 201, r.text
    assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"
    assert [p.status for p in await stack.payments_of(booking["id"])] == ["FAILED", "SUCCEEDED"]
    assert len(await stack.charges(booking["id"])) == 1
    assert "payment.failed" in await stack.events(booking["id"])


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ({**SUCCESS_CARD, "number": "4242424242424241"}, "CARD_INVALID"),
        ({**SUCCESS_CARD, "expYear": 2020}, "CARD_EXPIRED"),
        ({**SUCCESS_CARD, "expYear": 24, "expMonth": 1}, "CARD_EXPIRED"),
    ],
)
async def test_an_invalid_card_is_a_422_before_any_charge(stack, new_user, card, code):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "19A")
    r = await stack.pay(headers, booking, card=card)
    problem(r, 422, code)
    assert card["number"] not in r.text
    assert await stack.payments_of(booking["id"]) == []


@pytest.mark.parametrize(
    "card",
    [
        {"number": "abc", "expMonth": 12, "expYear": 2030, "cvc": "123"},
        {"number": "4242424242424242", "expMonth": 13, "expYear": 2030, "cvc": "123"},
        {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "12"},
        {"number": "4242424242424242", "expMonth": 12, "expYear": 2030},
        {"number": "4242424242424242", "expMonth": "Dec", "expYear": 2030, "cvc": "123"},
        "4242424242424242",
    ],
)
async def test_malformed_cards_are_422_and_never_echoed(stack, new_user, card):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "20A")
    r = await stack.pay(headers, booking, card=card)
    problem(r, 422, "VALIDATION_FAILED")
    assert "4242424242424242" not in r.text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"bookingId": "abc", "amount": "10.00"},
        {"bookingId": 1},
        {"bookingId": 1, "amount": "ten"},
        {"bookingId": 1, "amount": "10.001"},
        {"bookingId": 2**63, "amount": "10.00"},
        {"bookingId": 1, "amount": None},
        {"bookingId": 1, "amount": "NaN"},
        {"bookingId": 1, "amount": "Infinity"},
    ],
)
async def test_bad_input_is_a_422_never_a_500(stack, new_user, body):
    _, headers = new_user()
    r = await stack.payments.post("/api/payments/pay", json=body, headers=headers)
    problem(r, 422, "VALIDATION_FAILED")


async def test_the_card_number_is_never_stored(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "21A")
    card = {**SUCCESS_CARD, "number": "5555555555554444"}  # a Luhn-valid Mastercard
    r = await stack.pay(headers, booking, card=card, key="store-test")
    assert r.status_code == 201, r.text
    assert (r.json()["cardLast4"], r.json()["cardBrand"]) == ("4444", "mastercard")
    for table in ("payments", "gateway_charges", "idempotency_keys", "outbox", "refunds"):
        rows = await stack.sql(f"SELECT t::text AS row FROM payments.{table} t")  # noqa: S608
        assert not [row for row in rows if "5555555555554444" in row.row], table


async def test_the_events_reach_the_streams(stack, new_user):
    _, headers = new_user()
    booking = await stack.paid(headers, await new_flight(), "22A")
    redis = stack.booking_app.state.redis

    async def published(stream: str, types: set[str]) -> bool:
        entries = await redis.xrange(f"{REDIS_PREFIX}{{events}}:{stream}")
        seen = {
            f["type"]
            for _, f in entries
            if json.loads(f["payload"]).get("bookingId") == booking["id"]
        }
        return types <= seen

    async def both() -> bool:
        return await published("booking", {"booking.created", "booking.confirmed"}) and (
            await published("payment", {"payment.succeeded"})
        )

    await eventually(both)
    entries = await redis.xrange(f"{REDIS_PREFIX}{{events}}:payment")
    events = [Event.from_fields(fields) for _, fields in entries]
    succeeded = [
        p
        for p in (PaymentSucceeded.of(e) for e in events if e.type == PaymentSucceeded.type)
        if p.booking_id == booking["id"]
    ]
    assert [(p.status, p.booking_status) for p in succeeded] == [("SUCCEEDED", "CONFIRMED")]


async def test_the_booking_service_reads_a_payment(stack, new_user):
    _, headers = new_user()
    booking = await stack.paid(headers, await new_flight(), "23A")
    r = await stack.payments.get(
        f"/internal/payments/{booking['paymentId']}",
        headers=helpers.service_headers("booking", "payment"),
    )
    assert r.status_code == 200, r.text
    payment = Payment.model_validate(r.json())
    assert (payment.payment_id, payment.status) == (booking["paymentId"], "SUCCEEDED")
    problem(
        await stack.payments.get(f"/internal/payments/{booking['paymentId']}", headers=headers),
        403,
        "FORBIDDEN",
    )


async def test_the_booking_service_refunds_a_booking_once(stack, new_user):
    _, headers = new_user()
    booking = await stack.paid(headers, await new_flight(), "23B")
    service = helpers.service_headers("booking", "payment")
    body = RefundRequest(booking_id=booking["id"], reason="USER_CANCELLED")
    answers = [
        await stack.payments.post(
            "/internal/payments/refund",
            json=body.model_dump(mode="json", by_alias=True),
            headers=service,
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in answers] == [200, 200], answers[0].text
    payment = Payment.model_validate(answers[0].json())
    assert (payment.payment_id, payment.status, payment.booking_status) == (
        booking["paymentId"],
        "REFUNDED",
        "CANCELLED",
    )
    assert answers[1].json() == answers[0].json()
    rows = await stack.sql(
        "SELECT payload FROM payments.outbox WHERE type = 'payment.refunded' "
        "AND (payload->>'bookingId')::bigint = :b",
        b=booking["id"],
    )
    assert len(rows) == 1
    refunded = PaymentRefunded.model_validate(rows[0].payload)
    assert (refunded.payment_id, refunded.amount, refunded.reason) == (
        payment.payment_id,
        payment.amount,
        "USER_CANCELLED",
    )
    nothing = await stack.payments.post(
        "/internal/payments/refund", json={"bookingId": 9_000_000_777}, headers=service
    )
    problem(nothing, 404, "PAYMENT_NOT_FOUND")
