"""Redemptions are counted exactly once: under racing applies, when the booking service fails,
and when the booking expires or is cancelled (the use goes back to the code)."""

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.contracts.discounts import DiscountRedeemed, DiscountReleased
from tests.booking_service.harness import Stack, new_flight
from tests.discount_service.conftest import Booked, Discounts, start_discount_app
from tests.helpers import SUCCESS_CARD, assert_problem, eventually


async def test_fifty_concurrent_applies_of_the_last_use_give_one_success(
    stack: Stack, discounts: Discounts, new_user
) -> None:
    code = await discounts.create(usageLimit=2)
    flight_id = await new_flight()
    # One use is taken already: one left.
    _uid, first_headers = new_user()
    first = await stack.booked(first_headers, flight_id, "4A")
    assert (await discounts.apply(first_headers, first["id"], code["code"])).status_code == 200

    users = [new_user() for _ in range(50)]
    seats = [f"{row}{letter}" for row in range(5, 14) for letter in "ABCDEF"][:50]
    bookings: list[dict[str, Any]] = []
    for start in range(0, 50, 5):  # build the 50 bookings five at a time
        bookings += await asyncio.gather(
            *(
                stack.booked(headers, flight_id, seat)
                for (_uid, headers), seat in zip(
                    users[start : start + 5], seats[start : start + 5], strict=True
                )
            )
        )

    responses = await asyncio.gather(
        *(
            discounts.apply(headers, booking["id"], code["code"])
            for (_uid, headers), booking in zip(users, bookings, strict=True)
        )
    )
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) == 1, [r.status_code for r in responses]
    for r in responses:
        if r.status_code != 200:
            assert_problem(r, 422, "DISCOUNT_EXHAUSTED")
    assert (await discounts.code(code["code"]))["timesUsed"] == 2

    # Exactly one of the 50 bookings carries the discount, and has its redemption.
    winner = ok[0].json()["bookingId"]
    discounted = []
    for (_uid, headers), booking in zip(users, bookings, strict=True):
        b = await stack.booking(headers, booking["id"])
        if b["discountCode"] is not None:
            discounted.append(b["id"])
    assert discounted == [winner]
    rows = await discounts.sql(
        "SELECT r.booking_id FROM discounts.redemptions r JOIN discounts.codes c "
        "ON c.id = r.code_id WHERE c.code = :c AND r.status = 'applied' ORDER BY r.booking_id",
        c=code["code"],
    )
    assert sorted(r.booking_id for r in rows) == sorted([first["id"], winner])


# The booking service fails ---------------------------------------------------------------------


class Upstream(httpx.AsyncBaseTransport):
    """The real booking app, with the discount call failing in one of two ways:
    `refuse`: answered 503 without touching the booking; `lose_answer`: the booking is
    repriced, then the answer is lost (a read timeout)."""

    def __init__(self, booking_app: Any, mode: str) -> None:
        self.inner = httpx.ASGITransport(app=booking_app)
        self.mode = mode
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/discount"):
            self.calls += 1
            if self.mode == "refuse":
                return httpx.Response(503, json={"code": "SERVICE_UNAVAILABLE"})
            response = await self.inner.handle_async_request(request)
            await response.aread()
            raise httpx.ReadTimeout("answer lost", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def failing(stack: Stack, jwks_transport):
    """`await failing(mode)`: a discount app (no background loops) whose reprice call fails."""
    started = []

    async def start(mode: str) -> tuple[httpx.AsyncClient, Upstream]:
        upstream = Upstream(stack.booking_app, mode)
        _app, clients = await start_discount_app(
            jwks_transport, upstream, background_tasks=False, http_retries=2
        )
        client = await anext(clients)
        started.append(clients)
        return client, upstream

    yield start
    for clients in started:
        await clients.aclose()


async def test_a_failed_reprice_loses_no_use(
    stack: Stack, discounts: Discounts, booked: Booked, failing
) -> None:
    code = await discounts.create(usageLimit=1)
    headers, booking = await booked()
    client, upstream = await failing("refuse")
    r = await client.post(
        "/api/discounts/apply",
        json={"bookingId": booking["id"], "code": code["code"]},
        headers=headers,
    )
    assert_problem(r, 502, "BAD_GATEWAY")
    assert upstream.calls == 2  # retried: the reprice is idempotent
    assert (await discounts.code(code["code"]))["timesUsed"] == 0
    assert await discounts.redemptions(booking["id"]) == []
    assert (await stack.booking(headers, booking["id"]))["amountDue"] == "4924.00"

    # The use was given back: the same booking can take the code now.
    r = await discounts.apply(headers, booking["id"], code["code"])
    assert r.status_code == 200, r.text
    assert (await discounts.code(code["code"]))["timesUsed"] == 1


async def test_a_lost_answer_is_settled_by_reading_the_booking(
    stack: Stack, discounts: Discounts, booked: Booked, failing
) -> None:
    code = await discounts.create(usageLimit=5, value="75")
    headers, booking = await booked()
    client, upstream = await failing("lose_answer")
    r = await client.post(
        "/api/discounts/apply",
        json={"bookingId": booking["id"], "code": code["code"]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert upstream.calls == 2
    assert (r.json()["discount"], r.json()["amountAfter"]) == ("75.00", "4849.00")
    assert (await stack.booking(headers, booking["id"]))["amountDue"] == "4849.00"
    assert (await discounts.code(code["code"]))["timesUsed"] == 1
    assert [r.status for r in await discounts.redemptions(booking["id"])] == ["applied"]


# The booking ends unpaid: the use goes back ----------------------------------------------------


async def test_expired_booking_releases_its_redemption(
    stack: Stack, discounts: Discounts, booked: Booked
) -> None:
    code = await discounts.create(usageLimit=1)
    headers, booking = await booked()
    assert (await discounts.apply(headers, booking["id"], code["code"])).status_code == 200
    await discounts.sql(
        "UPDATE bookings.bookings SET expires_at = now() - interval '1 second' WHERE id = :b",
        b=booking["id"],
    )
    await stack.sweep_bookings()
    assert (await stack.booking(headers, booking["id"]))["status"] == "EXPIRED"

    async def released() -> bool:
        return [r.status for r in await discounts.redemptions(booking["id"])] == ["released"]

    await eventually(released)
    assert (await discounts.code(code["code"]))["timesUsed"] == 0

    # The use is back: another booking can have it.
    headers, other = await booked()
    assert (await discounts.apply(headers, other["id"], code["code"])).status_code == 200


async def test_unpaid_cancellation_releases_paid_one_does_not(
    stack: Stack, discounts: Discounts, booked: Booked
) -> None:
    code = await discounts.create(usageLimit=2, value="500")
    unpaid_headers, unpaid = await booked()
    paid_headers, paid = await booked()
    for headers, b in ((unpaid_headers, unpaid), (paid_headers, paid)):
        assert (await discounts.apply(headers, b["id"], code["code"])).status_code == 200
    assert (await discounts.code(code["code"]))["timesUsed"] == 2

    r = await stack.pay(
        paid_headers, await stack.booking(paid_headers, paid["id"]), card=SUCCESS_CARD
    )
    assert r.status_code == 201, r.text
    assert Decimal(r.json()["amount"]) == Decimal("4424.00")
    for headers, b in ((unpaid_headers, unpaid), (paid_headers, paid)):
        r = await stack.bookings.post(f"/api/bookings/{b['id']}/cancel", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "CANCELLED"

    await discounts.consumed("booking.cancelled", unpaid["id"])
    await discounts.consumed("booking.cancelled", paid["id"])
    assert [r.status for r in await discounts.redemptions(unpaid["id"])] == ["released"]
    assert [r.status for r in await discounts.redemptions(paid["id"])] == ["applied"]
    assert (await discounts.code(code["code"]))["timesUsed"] == 1


async def test_release_happens_once_per_redemption(discounts: Discounts, booked: Booked) -> None:
    """A repeated event (another event id for the same booking) releases nothing twice."""
    from discount_service import service

    code = await discounts.create(usageLimit=3)
    headers, booking = await booked()
    assert (await discounts.apply(headers, booking["id"], code["code"])).status_code == 200
    sessionmaker = discounts.app.state.db.sessionmaker
    results = []
    for _ in range(2):
        async with sessionmaker() as session, session.begin():
            results.append(
                await service.release(session=session, booking_id=booking["id"], reason="test")
            )
    assert results == [True, False]
    assert (await discounts.code(code["code"]))["timesUsed"] == 0
    # One event each way, as their contracts read them.
    rows = await discounts.sql(
        "SELECT type, payload FROM discounts.outbox WHERE (payload->>'bookingId')::bigint = :b "
        "ORDER BY id",
        b=booking["id"],
    )
    assert [row.type for row in rows] == ["discount.redeemed", "discount.released"]
    redeemed = DiscountRedeemed.model_validate(rows[0].payload)
    released = DiscountReleased.model_validate(rows[1].payload)
    assert (redeemed.code, redeemed.times_used) == (code["code"], 1)
    assert (released.code, released.reason, released.discount) == (
        code["code"],
        "test",
        redeemed.discount,
    )
