"""Applying a code: the booking is repriced, pay must receive the new amount, and every refusal
answers its own code."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.booking_service.harness import Stack, new_flight
from tests.discount_service.conftest import Booked, Discounts
from tests.helpers import SUCCESS_CARD, assert_problem

GROSS = Decimal("4924.00")  # one economy seat: 4500 + 5% GST + 199 fee


async def test_apply_reprices_the_booking_and_pay_takes_the_new_amount(
    stack: Stack, discounts: Discounts, booked: Booked
) -> None:
    code = await discounts.create(value="250")
    headers, booking = await booked()
    assert booking["amountDue"] == "4924.00"

    r = await discounts.apply(headers, booking["id"], code["code"].lower())
    assert r.status_code == 200, r.text
    assert r.json() == {
        "code": code["code"],
        "discount": "250.00",
        "amountBefore": "4924.00",
        "amountAfter": "4674.00",
        "amountDue": "4674.00",
        "currency": "INR",
        "bookingId": booking["id"],
        "reference": booking["reference"],
    }
    after = await stack.booking(headers, booking["id"])
    assert after["amountDue"] == "4674.00"
    assert after["discountCode"] == code["code"]
    assert after["fare"]["discount"] == "250.00"
    assert after["fare"]["total"] == "4674.00"
    assert (await discounts.code(code["code"]))["timesUsed"] == 1

    # The old amount is refused; the amount due after the discount is what pay receives.
    stale = await stack.pay(headers, booking, card=SUCCESS_CARD, amount="4924.00")
    assert_problem(stale, 409, "AMOUNT_MISMATCH")
    paid = await stack.pay(headers, after, card=SUCCESS_CARD)
    assert paid.status_code == 201, paid.text
    assert Decimal(paid.json()["amount"]) == Decimal("4674.00")
    assert paid.json()["bookingStatus"] == "CONFIRMED"

    # Once paid, the booking takes no code, and the redemption stays counted.
    other = await discounts.create()
    assert_problem(
        await discounts.apply(headers, booking["id"], other["code"]), 409, "BOOKING_NOT_PENDING"
    )
    await discounts.consumed("booking.confirmed", booking["id"])
    assert [tuple(r) for r in await discounts.redemptions(booking["id"])] == [
        ("applied", code["code"], Decimal("250.00"))
    ]
    assert (await discounts.code(code["code"]))["timesUsed"] == 1


async def test_percent_code_is_capped(discounts: Discounts, booked: Booked) -> None:
    capped = await discounts.create(kind="percent", value="10", maxDiscount="300")
    headers, booking = await booked()
    r = await discounts.apply(headers, booking["id"], capped["code"])
    assert r.status_code == 200, r.text
    assert r.json()["discount"] == "300.00"  # 10% would be 492.40
    assert r.json()["amountAfter"] == "4624.00"

    uncapped = await discounts.create(kind="percent", value="5", maxDiscount="1000")
    headers, booking = await booked()
    r = await discounts.apply(headers, booking["id"], uncapped["code"])
    assert r.status_code == 200, r.text
    assert r.json()["discount"] == "246.20"
    assert r.json()["amountAfter"] == "4677.80"


async def test_validate_previews_without_redeeming(discounts: Discounts, booked: Booked) -> None:
    code = await discounts.create(value="100", usageLimit=1)
    headers, booking = await booked()
    r = await discounts.client.get(
        "/api/discounts/validate",
        params={"code": code["code"], "bookingId": booking["id"]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] is True
    assert (body["discount"], body["amountBefore"], body["amountAfter"]) == (
        "100.00",
        "4924.00",
        "4824.00",
    )
    assert (await discounts.code(code["code"]))["timesUsed"] == 0
    assert await discounts.redemptions(booking["id"]) == []

    # Without a booking: the code's terms, if it could be used now.
    r = await discounts.client.get(
        "/api/discounts/validate", params={"code": code["code"]}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "flat" and r.json()["discount"] is None

    # A refusal previews as the apply would answer.
    big = await discounts.create(minBookingAmount="10000")
    r = await discounts.client.get(
        "/api/discounts/validate",
        params={"code": big["code"], "bookingId": booking["id"]},
        headers=headers,
    )
    assert_problem(r, 422, "DISCOUNT_MIN_AMOUNT")


# Refusals -------------------------------------------------------------------------------------


async def test_unknown_code_is_404(discounts: Discounts, booked: Booked) -> None:
    headers, booking = await booked()
    r = await discounts.apply(headers, booking["id"], "NOSUCHCODE")
    assert_problem(r, 404, "DISCOUNT_NOT_FOUND")


async def test_inactive_not_yet_valid_and_expired_codes_are_422(
    discounts: Discounts, booked: Booked
) -> None:
    now = datetime.now(UTC)
    inactive = await discounts.create(active=False)
    future = await discounts.create(validFrom=(now + timedelta(days=1)).isoformat())
    past = await discounts.create(
        validFrom=(now - timedelta(days=10)).isoformat(),
        validUntil=(now - timedelta(days=1)).isoformat(),
    )
    headers, booking = await booked()
    for code in (inactive, future, past):
        r = await discounts.apply(headers, booking["id"], code["code"])
        assert_problem(r, 422, "DISCOUNT_EXPIRED")
        assert (await discounts.code(code["code"]))["timesUsed"] == 0
    assert await discounts.redemptions(booking["id"]) == []


async def test_exhausted_code_is_422(discounts: Discounts, booked: Booked) -> None:
    code = await discounts.create(usageLimit=1)
    headers, first = await booked()
    assert (await discounts.apply(headers, first["id"], code["code"])).status_code == 200
    headers, second = await booked()
    r = await discounts.apply(headers, second["id"], code["code"])
    assert_problem(r, 422, "DISCOUNT_EXHAUSTED")
    assert (await discounts.code(code["code"]))["timesUsed"] == 1


async def test_per_user_limit_is_422(stack: Stack, discounts: Discounts, new_user) -> None:
    code = await discounts.create(perUserLimit=1)
    _user_id, headers = new_user()
    first = await stack.booked(headers, await new_flight(), "12A")
    second = await stack.booked(headers, await new_flight(), "12A")
    assert (await discounts.apply(headers, first["id"], code["code"])).status_code == 200
    r = await discounts.apply(headers, second["id"], code["code"])
    assert_problem(r, 422, "DISCOUNT_USER_LIMIT")
    assert (await discounts.code(code["code"]))["timesUsed"] == 1


async def test_below_minimum_amount_is_422(discounts: Discounts, booked: Booked) -> None:
    code = await discounts.create(minBookingAmount="5000.00")
    headers, booking = await booked()
    r = await discounts.apply(headers, booking["id"], code["code"])
    body = assert_problem(r, 422, "DISCOUNT_MIN_AMOUNT")
    assert body["minBookingAmount"] == "5000.00"
    assert body["amount"] == "4924.00"


async def test_one_code_per_booking_is_409(discounts: Discounts, booked: Booked) -> None:
    first, second = await discounts.create(), await discounts.create()
    headers, booking = await booked()
    assert (await discounts.apply(headers, booking["id"], first["code"])).status_code == 200
    for code in (second, first):  # another code, or the same one again
        r = await discounts.apply(headers, booking["id"], code["code"])
        body = assert_problem(r, 409, "DISCOUNT_ALREADY_APPLIED")
        assert body["discountCode"] == first["code"]
    assert (await discounts.code(second["code"]))["timesUsed"] == 0
    assert (await discounts.code(first["code"]))["timesUsed"] == 1


async def test_booking_not_pending_is_409(
    stack: Stack, discounts: Discounts, booked: Booked
) -> None:
    code = await discounts.create()
    headers, booking = await booked()
    r = await stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200, r.text
    r = await discounts.apply(headers, booking["id"], code["code"])
    body = assert_problem(r, 409, "BOOKING_NOT_PENDING")
    assert body["bookingStatus"] == "CANCELLED"
    assert (await discounts.code(code["code"]))["timesUsed"] == 0


async def test_someone_elses_or_a_missing_booking_is_404(
    discounts: Discounts, booked: Booked, new_user
) -> None:
    code = await discounts.create()
    _owner, booking = await booked()
    _intruder_id, intruder = new_user()
    r = await discounts.apply(intruder, booking["id"], code["code"])
    assert_problem(r, 404, "BOOKING_NOT_FOUND")
    r = await discounts.apply(intruder, 9_000_000_000, code["code"])
    assert_problem(r, 404, "BOOKING_NOT_FOUND")
    assert (await discounts.code(code["code"]))["timesUsed"] == 0


async def test_bad_input_and_no_token(discounts: Discounts, booked: Booked) -> None:
    headers, booking = await booked()
    for body in (
        {"bookingId": "abc", "code": "FLY100"},
        {"bookingId": booking["id"]},
        {"bookingId": booking["id"], "code": ""},
        {"bookingId": -1, "code": "FLY100"},
        [],
    ):
        r = await discounts.client.post("/api/discounts/apply", json=body, headers=headers)
        assert_problem(r, 422, "VALIDATION_FAILED")
    r = await discounts.client.post(
        "/api/discounts/apply", json={"bookingId": booking["id"], "code": "FLY100"}
    )
    assert_problem(r, 401, "UNAUTHORIZED")


# Admin ----------------------------------------------------------------------------------------


async def test_admin_creates_codes(discounts: Discounts, new_user) -> None:
    code = await discounts.create(
        code=f"  summer-{uuid.uuid4().hex[:8]} ",
        kind="percent",
        value=25,
        maxDiscount="750.50",
        usageLimit=10,
        perUserLimit=2,
    )
    assert code["code"].startswith("SUMMER-") and code["code"] == code["code"].upper()
    assert (code["kind"], code["value"], code["maxDiscount"]) == ("percent", "25.00", "750.50")
    assert (code["usageLimit"], code["perUserLimit"], code["timesUsed"], code["remaining"]) == (
        10,
        2,
        0,
        10,
    )
    duplicate = await discounts.client.post(
        "/api/discounts",
        json={"code": code["code"].lower(), "kind": "flat", "value": "5"},
        headers=discounts.admin,
    )
    assert_problem(duplicate, 409, "DISCOUNT_CODE_EXISTS")

    _user_id, user = new_user()
    r = await discounts.client.post(
        "/api/discounts", json={"code": "MINE123", "kind": "flat", "value": "5"}, headers=user
    )
    assert_problem(r, 403, "FORBIDDEN")
    assert_problem(await discounts.client.get("/api/discounts", headers=user), 403, "FORBIDDEN")

    for bad in (
        {"code": "X", "kind": "flat", "value": "5"},
        {"code": "BADPCT", "kind": "percent", "value": "101"},
        {"code": "BADVAL", "kind": "flat", "value": "0"},
        {"code": "BADCAP", "kind": "flat", "value": "10", "maxDiscount": "5"},
        {"code": "BADKIND", "kind": "bogo", "value": "10"},
        {"code": "BADAMT", "kind": "flat", "value": "10.001"},
        {
            "code": "BADWIN",
            "kind": "flat",
            "value": "10",
            "validFrom": "2030-01-02T00:00:00+00:00",
            "validUntil": "2030-01-01T00:00:00+00:00",
        },
        {"code": "NAIVE", "kind": "flat", "value": "10", "validFrom": "2030-01-02T00:00:00"},
    ):
        r = await discounts.client.post("/api/discounts", json=bad, headers=discounts.admin)
        assert_problem(r, 422, "VALIDATION_FAILED")


async def test_openapi_and_health(discounts: Discounts) -> None:
    assert (await discounts.client.get("/health")).json()["service"] == "discount"
    assert (await discounts.client.get("/ready")).status_code == 200
    paths = (await discounts.client.get("/openapi.json")).json()["paths"]
    assert {"/api/discounts/apply", "/api/discounts/validate", "/api/discounts"} <= set(paths)
