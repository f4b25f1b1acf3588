"""Discount codes cannot be enumerated: unknown or expired codes tried per user are counted
(DISCOUNT_FAILED_ATTEMPT_LIMIT per DISCOUNT_FAILED_ATTEMPT_WINDOW_SECONDS, apply and validate
together); past the limit every attempt is 429, a valid code too, until the window ends."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from discount_service.config import DiscountSettings
from tests.booking_service.harness import Stack
from tests.discount_service.conftest import Booked, Discounts, start_discount_app
from tests.helpers import assert_problem

LIMIT = DiscountSettings().discount_failed_attempt_limit


def guess() -> str:
    return f"GUESS{uuid.uuid4().hex[:8].upper()}"


def kinds(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(f"{r.status_code} {r.json().get('code', '')}".strip() for r in responses)


def validate(client: httpx.AsyncClient, headers: dict[str, str], code: str, **params: object):
    return client.get("/api/discounts/validate", params={"code": code, **params}, headers=headers)


async def test_a_burst_of_guesses_is_cut_at_the_limit_and_then_a_valid_code_waits(
    discounts: Discounts, booked: Booked
) -> None:
    assert LIMIT == 10
    valid = await discounts.create(value="150")
    headers, booking = await booked()
    guesses = await asyncio.gather(
        *(discounts.apply(headers, booking["id"], guess()) for _ in range(LIMIT * 3))
    )
    assert kinds(guesses) == {
        "404 DISCOUNT_NOT_FOUND": LIMIT,
        "429 DISCOUNT_ATTEMPTS_THROTTLED": LIMIT * 2,
    }
    for r in guesses:
        if r.status_code == 429:
            problem = assert_problem(r, 429, "DISCOUNT_ATTEMPTS_THROTTLED")
            assert 1 <= int(r.headers["retry-after"]) <= 3600
            assert problem["limit"] == LIMIT
            assert "GUESS" not in r.text  # nothing about the code tried
    # A valid code is refused alike until the window ends: a 429 tells nothing.
    r = await discounts.apply(headers, booking["id"], valid["code"])
    assert_problem(r, 429, "DISCOUNT_ATTEMPTS_THROTTLED")
    assert_problem(await validate(discounts.client, headers, valid["code"]), 429, r.json()["code"])
    assert await discounts.redemptions(booking["id"]) == []
    # Another traveller is not affected.
    other, theirs = await booked()
    r = await discounts.apply(other, theirs["id"], valid["code"])
    assert r.status_code == 200, r.text


async def test_expired_codes_count_as_failed_guesses(discounts: Discounts, booked: Booked) -> None:
    past = await discounts.create(validUntil=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    headers, booking = await booked()
    answers = [await discounts.apply(headers, booking["id"], past["code"]) for _ in range(LIMIT)]
    assert kinds(answers) == {"422 DISCOUNT_EXPIRED": LIMIT}
    assert_problem(
        await discounts.apply(headers, booking["id"], guess()), 429, "DISCOUNT_ATTEMPTS_THROTTLED"
    )


async def test_valid_codes_and_other_refusals_do_not_count(
    discounts: Discounts, booked: Booked
) -> None:
    valid = await discounts.create(value="100")
    big = await discounts.create(minBookingAmount="100000")
    headers, booking = await booked()
    previews = [await validate(discounts.client, headers, valid["code"]) for _ in range(LIMIT * 2)]
    assert {r.status_code for r in previews} == {200}
    refusals = [await discounts.apply(headers, booking["id"], big["code"]) for _ in range(LIMIT)]
    refusals += [await discounts.apply(headers, 10**12, valid["code"]) for _ in range(LIMIT)]
    assert kinds(refusals) == {"422 DISCOUNT_MIN_AMOUNT": LIMIT, "404 BOOKING_NOT_FOUND": LIMIT}
    # All of the user's failed guesses are still there to use, and then no more.
    answers = [await validate(discounts.client, headers, guess()) for _ in range(LIMIT + 1)]
    assert kinds(answers) == {
        "404 DISCOUNT_NOT_FOUND": LIMIT,
        "429 DISCOUNT_ATTEMPTS_THROTTLED": 1,
    }


async def test_validate_and_apply_share_the_count(discounts: Discounts, booked: Booked) -> None:
    valid = await discounts.create(value="100")
    headers, booking = await booked()
    half = LIMIT // 2
    for _ in range(half):
        assert_problem(
            await validate(discounts.client, headers, guess()), 404, "DISCOUNT_NOT_FOUND"
        )
        assert_problem(
            await validate(discounts.client, headers, guess(), bookingId=booking["id"]),
            404,
            "DISCOUNT_NOT_FOUND",
        )
    r = await discounts.apply(headers, booking["id"], valid["code"])
    assert_problem(r, 429, "DISCOUNT_ATTEMPTS_THROTTLED")


async def test_administrators_are_not_counted(discounts: Discounts) -> None:
    answers = [await validate(discounts.client, discounts.admin, guess()) for _ in range(LIMIT * 2)]
    assert kinds(answers) == {"404 DISCOUNT_NOT_FOUND": LIMIT * 2}


@pytest.fixture(scope="module")
async def brief(stack: Stack, jwks_transport) -> AsyncIterator[httpx.AsyncClient]:
    """A discount app allowing 2 failed guesses per second."""
    _app, clients = await start_discount_app(
        jwks_transport,
        httpx.ASGITransport(app=stack.booking_app),
        background_tasks=False,
        discount_failed_attempt_limit=2,
        discount_failed_attempt_window_seconds=1,
    )
    client = await anext(clients)
    yield client
    await clients.aclose()


async def test_the_window_ends(brief: httpx.AsyncClient, booked: Booked) -> None:
    headers, _booking = await booked()
    answers = [await validate(brief, headers, guess()) for _ in range(3)]
    assert kinds(answers) == {"404 DISCOUNT_NOT_FOUND": 2, "429 DISCOUNT_ATTEMPTS_THROTTLED": 1}
    await asyncio.sleep(1.1)
    assert_problem(await validate(brief, headers, guess()), 404, "DISCOUNT_NOT_FOUND")
