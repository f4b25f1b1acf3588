"""Bad input to the booking routes is a 422 problem naming the field, never a 500.

POST /api/bookings and its alias /api/bookings/create: an insane `price`, a control character
in a passenger's name, email or phone. The internal routes' amounts go through the same type.
"""

import json

import pytest

from tests import helpers
from tests.booking_service.harness import new_flight
from tests.helpers import INSANE_AMOUNTS, assert_problem

PATHS = ["/api/bookings", "/api/bookings/create"]


async def post_json(client, path, body, headers):
    """NaN and Infinity as the bare literals json.dumps writes (httpx's json= refuses them)."""
    return await client.post(
        path, content=json.dumps(body), headers={**headers, "content-type": "application/json"}
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("price", INSANE_AMOUNTS)
async def test_an_insane_price_is_a_422_naming_the_field(stack, new_user, path, price):
    _, headers = new_user()
    body = {"holdIds": ["h-1"], "price": price}
    r = await post_json(stack.bookings, path, body, headers)
    problem_body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert problem_body["errors"][0]["loc"] == ["body", "price"]
    assert problem_body["errors"][0]["type"] == "invalid_amount"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("passenger", "field"),
    [
        ({"name": "A\u0000"}, "name"),
        ({"name": "Asha\nRao"}, "name"),
        ({"name": "Asha", "email": "asha@example.com\u0000"}, "email"),
        ({"name": "Asha", "phone": "+91\u00009999"}, "phone"),
    ],
)
async def test_a_control_character_in_a_passenger_is_422(stack, new_user, path, passenger, field):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "12A")
    r = await stack.bookings.post(
        path, json={"holdIds": [hold["holdId"]], "passengers": [passenger]}, headers=headers
    )
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["body", "passengers", 0, field]
    assert body["errors"][0]["type"] == "control_character"
    # Nothing was booked: the same hold still books.
    r = await stack.bookings.post(
        path, json={"holdIds": [hold["holdId"]], "passengers": [{"name": "Asha"}]}, headers=headers
    )
    assert r.status_code == 201, r.text


async def test_the_highest_fares_still_book(stack, new_user):
    """A booking's total (fares, GST, fees) fits the money columns: at 99,999,999.99 a fare
    (which the flight service took) overflowed Numeric(10, 2), a 500 at booking time."""
    _, headers = new_user()
    flight_id = await new_flight(economy="1000000.00", business="1000000.00")
    seats = [f"{row}{letter}" for row in (1, 2) for letter in "ACDF"] + ["4A"]  # 8 business
    booking = await stack.booked(headers, flight_id, *seats)
    assert booking["fare"]["base"] == "9000000.00"
    assert booking["amountDue"] == "10011791.00"  # + GST (8 x 12%, 1 x 5%), 9 x 199 fees


async def test_a_control_character_in_a_hold_id_is_422(stack, new_user):
    _, headers = new_user()
    r = await stack.bookings.post("/api/bookings", json={"holdIds": ["h\u0000"]}, headers=headers)
    assert_problem(r, 422, "VALIDATION_FAILED")


@pytest.mark.parametrize("amount", [1e26, "1" * 27, "NaN", "1e3"])
async def test_the_internal_amounts_are_bounded_too(stack, amount):
    saga = helpers.service_headers("payment", "booking")
    r = await post_json(
        stack.bookings,
        "/internal/bookings/1/payment-started",
        {"paymentId": 1, "amount": amount, "userId": 1},
        saga,
    )
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == ["body", "amount"]
    repricer = helpers.service_headers("discount", "booking")
    r = await post_json(
        stack.bookings,
        "/internal/bookings/1/discount",
        {"code": "FLY100", "discount": amount},
        repricer,
    )
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == ["body", "discount"]
