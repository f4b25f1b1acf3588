"""POST /api/bookings (and /api/bookings/create): a PENDING booking from the caller's holds."""

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from booking_service.service import REFERENCE_ALPHABET
from tests.booking_service.harness import cancel_flight, new_flight, reprice
from tests.helpers import assert_problem, bearer


async def test_booking_from_a_hold_priced_by_the_server(stack, new_user):
    user_id, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "12A")
    r = await stack.book(headers, holdIds=[hold["holdId"]])
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["userId"] == user_id
    assert b["status"] == "PENDING"
    assert len(b["reference"]) == 6 and set(b["reference"]) <= set(REFERENCE_ALPHABET)
    assert b["flightIds"] == [flight_id]
    assert b["seats"][0] == {
        "flightId": flight_id,
        "seatNumber": "12A",
        "cabin": "economy",
        "fare": "4500.00",
        "tax": "225.00",
        "passenger": b["passengers"][0]["name"],
    }
    # base 4500, GST 5% on economy, the convenience fee once (one passenger, one flight).
    assert b["fare"] == {
        "base": "4500.00",
        "taxes": "225.00",
        "fees": "199.00",
        "discount": "0.00",
        "total": "4924.00",
        "currency": "INR",
    }
    assert b["amountDue"] == "4924.00"
    assert b["discountCode"] is None
    assert datetime.fromisoformat(b["expiresAt"]) == datetime.fromisoformat(hold["expiresAt"])
    assert datetime.fromisoformat(b["createdAt"]).tzinfo is not None
    assert b["passengers"] == [
        {"name": f"user{user_id}", "email": f"user{user_id}@example.com", "phone": None}
    ]
    assert await stack.events(b["id"]) == ["booking.created"]


async def test_the_default_passenger_is_named_by_the_token(stack, new_user, make_token):
    user_id, _ = new_user()
    email = f"user{user_id}@example.com"
    headers = bearer(make_token(user_id, email=email, name=" Asha Rao "))
    b = await stack.booked(headers, await new_flight(), "12C")
    # Not from the auth service (it has no such user): from the token's `name` claim.
    assert b["passengers"] == [{"name": "Asha Rao", "email": email, "phone": None}]


async def test_a_token_without_a_name_asks_the_auth_service(stack, jwks_transport, make_token):
    email = f"old-token-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(transport=jwks_transport, base_url="http://auth") as auth:
        r = await auth.post(
            "/api/auth/signup",
            json={"name": "Ravi Rao", "email": email, "password": "correct-horse-battery"},
        )
        assert r.status_code == 201, r.text
    # A token minted before the auth service added `name` (still valid for 15 minutes).
    token = make_token(r.json()["userId"], email=email)
    b = await stack.booked(bearer(token), await new_flight(), "12D")
    assert b["passengers"][0]["name"] == "Ravi Rao"


async def test_business_seats_pay_12_percent_gst_and_a_fee_per_passenger(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "1A", "1C")
    r = await stack.bookings.post(
        "/api/bookings/create",
        json={
            "holdIds": [hold["holdId"]],
            "passengers": [{"name": "Asha Rao"}, {"name": "Ravi Rao", "email": "ravi@example.com"}],
            "seats": 2,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["fare"] == {
        "base": "24000.00",
        "taxes": "2880.00",
        "fees": "398.00",
        "discount": "0.00",
        "total": "27278.00",
        "currency": "INR",
    }
    assert [(s["seatNumber"], s["cabin"], s["passenger"]) for s in b["seats"]] == [
        ("1A", "business", "Asha Rao"),
        ("1C", "business", "Ravi Rao"),
    ]


async def test_mixed_cabins_in_one_hold_are_priced_per_seat(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    b = await stack.booked(headers, flight_id, "2A", "20B")
    assert b["segments"][0]["cabin"] == "mixed"
    # 12000 + 4500; 12% of 12000 + 5% of 4500; two passengers' fees.
    assert (b["fare"]["base"], b["fare"]["taxes"], b["fare"]["fees"]) == (
        "16500.00",
        "1665.00",
        "398.00",
    )
    assert b["fare"]["total"] == "18563.00"


async def test_the_seed_form_books_the_callers_live_hold_on_the_flight(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "7C")
    r = await stack.book(headers, flightId=flight_id, seats=1)
    assert r.status_code == 201, r.text
    assert r.json()["segments"][0]["holdId"] == hold["holdId"]


async def test_the_seed_form_without_a_hold_says_to_hold_first(stack, new_user):
    _, headers = new_user()
    r = await stack.book(headers, flightId=await new_flight(), seats=1)
    assert_problem(r, 409, "NO_ACTIVE_HOLD")


async def test_seats_must_equal_the_held_seats(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "8A")
    # The seed's walkthrough: one seat locked, "seats": 2.
    body = assert_problem(
        await stack.book(headers, flightId=flight_id, seats=2), 422, "SEAT_COUNT_MISMATCH"
    )
    assert body["held"] == 1
    assert_problem(
        await stack.book(headers, holdIds=[hold["holdId"]], seats=3), 422, "SEAT_COUNT_MISMATCH"
    )


async def test_a_client_price_that_differs_is_refused_with_the_current_price(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "9A")
    # The seed's client sent price 5000 (and the original accepted even 1).
    for price in (5000, 1, "4923.99", "0"):
        body = assert_problem(
            await stack.book(headers, holdIds=[hold["holdId"]], price=price), 409, "PRICE_CHANGED"
        )
        assert body["currentPrice"] == "4924.00"
        assert body["fare"]["total"] == "4924.00"
    # The right price, as a number or a string, is accepted.
    r = await stack.book(headers, holdIds=[hold["holdId"]], price=4924)
    assert r.status_code == 201, r.text


async def test_a_price_change_since_the_search_is_caught(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "10A")
    await reprice(flight_id, economy="4800.00")  # by the airline, since the search
    body = assert_problem(
        await stack.book(headers, holdIds=[hold["holdId"]], price="4924.00"), 409, "PRICE_CHANGED"
    )
    assert body["currentPrice"] == "5239.00"


async def test_a_user_id_that_is_not_the_callers_is_forbidden(stack, new_user):
    user_id, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "11A")
    assert_problem(
        await stack.book(headers, holdIds=[hold["holdId"]], userId=user_id + 1), 403, "FORBIDDEN"
    )
    r = await stack.book(headers, holdIds=[hold["holdId"]], userId=user_id)
    assert r.status_code == 201, r.text


async def test_another_users_hold_is_refused(stack, new_user):
    _, alice = new_user()
    _, bob = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(alice, flight_id, "13A")
    assert_problem(await stack.book(bob, holdIds=[hold["holdId"]]), 409, "HOLD_NOT_OWNED")


async def test_a_released_or_expired_hold_is_refused(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "14A")
    r = await stack.seats.delete(f"/api/seats/lock/{hold['holdId']}", headers=headers)
    assert r.status_code == 204
    assert_problem(await stack.book(headers, holdIds=[hold["holdId"]]), 409, "HOLD_EXPIRED")


async def test_a_hold_books_once(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "15A")
    assert (await stack.book(headers, holdIds=[hold["holdId"]])).status_code == 201
    body = assert_problem(
        await stack.book(headers, holdIds=[hold["holdId"]]), 409, "HOLD_ALREADY_USED"
    )
    assert body["holdId"] == hold["holdId"]


async def test_racing_bookings_of_one_hold_make_one_booking(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "16A")
    answers = await asyncio.gather(
        *(stack.book(headers, holdIds=[hold["holdId"]]) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 9, [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"HOLD_ALREADY_USED"}


async def test_unknown_hold_is_404(stack, new_user):
    _, headers = new_user()
    r = await stack.book(headers, holdIds=["3f0c4bd6-0d55-4a43-a5d1-0b0a5b8d7f00"])
    assert_problem(r, 404, "HOLD_NOT_FOUND")
    assert_problem(await stack.book(headers, holdId="not-a-uuid"), 404, "HOLD_NOT_FOUND")


async def test_one_stop_itinerary_books_one_hold_per_flight(stack, new_user):
    _, headers = new_user()
    first = await new_flight(origin="DEL", destination="BOM", departs_in=timedelta(days=2))
    second = await new_flight(
        origin="BOM", destination="GOI", departs_in=timedelta(days=2, hours=3), economy="3000.00"
    )
    h1 = await stack.hold(headers, first, "20A")
    h2 = await stack.hold(headers, second, "21A")
    r = await stack.book(headers, holdIds=[h2["holdId"], h1["holdId"]])
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["flightIds"] == [first, second]  # in flying order
    assert b["fare"]["base"] == "7500.00"
    assert b["fare"]["taxes"] == "375.00"
    assert b["fare"]["fees"] == "398.00"
    assert b["fare"]["total"] == "8273.00"
    expiry = min(datetime.fromisoformat(h["expiresAt"]) for h in (h1, h2))
    assert datetime.fromisoformat(b["expiresAt"]) == expiry


async def test_flights_that_do_not_connect_are_refused(stack, new_user):
    _, headers = new_user()
    first = await new_flight(origin="DEL", destination="BOM", departs_in=timedelta(days=2))
    elsewhere = await new_flight(
        origin="BLR", destination="GOI", departs_in=timedelta(days=2, hours=4)
    )
    too_early = await new_flight(
        origin="BOM", destination="GOI", departs_in=timedelta(days=2, hours=1)
    )
    h1 = await stack.hold(headers, first, "22A")
    h2 = await stack.hold(headers, elsewhere, "22A")
    h3 = await stack.hold(headers, too_early, "22A")
    for other in (h2, h3):
        assert_problem(
            await stack.book(headers, holdIds=[h1["holdId"], other["holdId"]]),
            422,
            "ITINERARY_INVALID",
        )


async def test_one_hold_per_flight_and_the_same_seat_count_on_each(stack, new_user):
    _, headers = new_user()
    first = await new_flight(origin="DEL", destination="BOM", departs_in=timedelta(days=2))
    second = await new_flight(
        origin="BOM", destination="GOI", departs_in=timedelta(days=2, hours=3)
    )
    a = await stack.hold(headers, first, "23A")
    b = await stack.hold(headers, first, "23B")
    assert_problem(
        await stack.book(headers, holdIds=[a["holdId"], b["holdId"]]), 422, "ONE_HOLD_PER_FLIGHT"
    )
    c = await stack.hold(headers, second, "23A", "23B")
    assert_problem(
        await stack.book(headers, holdIds=[a["holdId"], c["holdId"]]), 422, "SEAT_COUNT_MISMATCH"
    )


async def test_passengers_one_name_per_seat(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "24A", "24B")
    assert_problem(await stack.book(headers, holdIds=[hold["holdId"]]), 422, "PASSENGERS_REQUIRED")
    assert_problem(
        await stack.book(headers, holdIds=[hold["holdId"]], passengers=[{"name": "Only One"}]),
        422,
        "PASSENGER_COUNT_MISMATCH",
    )


async def test_a_cancelled_or_departed_flight_cannot_be_booked(stack, new_user):
    _, headers = new_user()
    flight_id = await new_flight()
    hold = await stack.hold(headers, flight_id, "25A")
    await cancel_flight(flight_id)
    assert_problem(await stack.book(headers, holdIds=[hold["holdId"]]), 409, "FLIGHT_CANCELLED")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"flightId": "abc", "seats": 1},
        {"flightId": 1, "seats": -1},
        {"flightId": 1, "seats": "two"},
        {"flightId": 2**63, "seats": 1},
        {"holdIds": "abc"},
        {"holdIds": []},
        {"holdIds": [{"x": 1}]},
        {"holdIds": ["a" * 65]},
        {"holdIds": ["../../internal"]},
        {"holdIds": ["h"], "price": "abc"},
        {"holdIds": ["h"], "price": 12.345},
        {"holdIds": ["h"], "price": True},
        {"holdIds": ["h"], "passengers": [{"name": ""}]},
        {"holdIds": ["h"], "passengers": "Asha"},
        {"holdIds": ["h"], "userId": "me"},
        [1, 2, 3],
    ],
)
async def test_bad_input_is_a_422_never_a_500(stack, new_user, body):
    _, headers = new_user()
    r = await stack.bookings.post("/api/bookings", json=body, headers=headers)
    assert_problem(r, 422, "VALIDATION_FAILED")


async def test_not_json_is_a_422(stack, new_user):
    _, headers = new_user()
    r = await stack.bookings.post(
        "/api/bookings",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text


async def test_a_token_is_required(stack):
    r = await stack.bookings.post("/api/bookings", json={"holdIds": ["x"]})
    assert_problem(r, 401, "UNAUTHORIZED")
    r = await stack.bookings.get("/api/bookings", headers=bearer("nonsense"))
    assert_problem(r, 401, "INVALID_TOKEN")


async def test_internal_routes_refuse_user_tokens(stack, new_user):
    _, headers = new_user()
    r = await stack.bookings.get("/internal/bookings/1", headers=headers)
    assert_problem(r, 403, "FORBIDDEN")
    r = await stack.bookings.post("/internal/bookings/1/confirm", json={"paymentId": 1})
    assert_problem(r, 401, "UNAUTHORIZED")
