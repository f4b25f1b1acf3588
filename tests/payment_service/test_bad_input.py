"""Bad input to POST /api/payments/pay is a 422 problem naming the field, never a 500.

Amounts: at most 99,999,999.99 with two decimal places, as a number or a plain decimal string
(shared.money). Text: no control characters (shared.schemas, shared.textguard).
"""

import json

import pytest

from tests.booking_service.harness import new_flight
from tests.helpers import SUCCESS_CARD
from tests.helpers import assert_problem as problem

# Each was a 500 (decimal.InvalidOperation) or was taken as an amount ("1e3" is 1000.00).
INSANE_AMOUNTS = [
    1e26,
    "1e26",
    "1" * 27,
    "123456789012345678901234567",
    10**30,
    "NaN",
    "-Infinity",
    float("nan"),
    float("inf"),
    "1e3",
    "1E+3",
    "100000000",
    "4924.001",
    "-4924.00",
    " 4924.00",
]


@pytest.mark.parametrize("amount", INSANE_AMOUNTS)
async def test_an_insane_amount_is_a_422_naming_the_field(stack, new_user, amount):
    _, headers = new_user()
    # json.dumps writes NaN and Infinity as bare literals, which Python's JSON reader takes.
    r = await stack.payments.post(
        "/api/payments/pay",
        content=json.dumps({"bookingId": 1, "amount": amount}),
        headers={**headers, "content-type": "application/json"},
    )
    body = problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["body", "amount"]
    assert body["errors"][0]["type"] == "invalid_amount"
    assert body["detail"].startswith("amount: amount ")


async def test_an_exponent_is_refused_even_when_it_equals_the_amount_due(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(economy="4500.00"), "30A")
    assert booking["amountDue"] == "4924.00"
    r = await stack.pay(headers, booking, amount="4.924e3", card=SUCCESS_CARD)
    problem(r, 422, "VALIDATION_FAILED")
    assert await stack.payments_of(booking["id"]) == []
    r = await stack.pay(headers, booking, amount=4924.0, card=SUCCESS_CARD)
    assert r.status_code == 201, r.text


async def test_a_control_character_in_the_idempotency_key_is_422(stack, new_user):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "30B")
    r = await stack.pay(headers, booking, key="key\x00one")
    body = problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["header", "idempotency-key"]
    assert await stack.payments_of(booking["id"]) == []


@pytest.mark.parametrize(
    "card",
    [
        {**SUCCESS_CARD, "number": "4242\x00424242424242"},
        {**SUCCESS_CARD, "cvc": "12\x00"},
    ],
)
async def test_a_control_character_in_the_card_is_422(stack, new_user, card):
    _, headers = new_user()
    r = await stack.payments.post(
        "/api/payments/pay",
        json={"bookingId": 1, "amount": "10.00", "card": card},
        headers=headers,
    )
    problem(r, 422, "VALIDATION_FAILED")
    assert "4242" not in r.text
