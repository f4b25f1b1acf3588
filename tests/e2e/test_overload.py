"""Above capacity the system answers at once (503 + Retry-After) instead of queueing.

Hundreds of travellers ask for the same seat at the same moment, through a gateway in front of
a seat service that may handle only a few requests at once. Exactly one gets the seat; every
other answer is a 409 (the seat is taken) or a 503 with Retry-After (come back later); nothing
else, and no connection is dropped.
"""

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.checks import create_flight
from tests.e2e.stack import Stack
from tests.helpers import bearer

pytestmark = pytest.mark.e2e

TRAVELLERS = 300


async def test_one_seat_for_hundreds_at_once_one_hold_the_rest_409_or_503(
    stack: Stack,
    gateway: httpx.AsyncClient,
    admin: dict[str, str],
    make_token: Callable[..., str],
    reference_data: None,
) -> None:
    limits = {"MAX_CONCURRENT_REQUESTS": "2", "MAX_QUEUED_REQUESTS": "2"}
    with (
        stack.copy("seat", QUEUE_TIMEOUT_SECONDS="0.5", **limits) as seats,
        stack.side_gateway(
            "gateway-overload",
            SEAT_SERVICE_URL=seats.url,
            RATE_LIMIT_PER_USER="0",
            RATE_LIMIT_PER_ADDRESS="0",
        ) as front,
    ):
        kinds = await one_seat_for_all(front.url, gateway, admin, make_token)
    assert kinds["201"] == 1, kinds
    assert set(kinds) <= {"201", "409 SEAT_UNAVAILABLE", "503 OVERLOADED"}, kinds
    assert kinds["503 OVERLOADED"] > 0, kinds  # the seat service did shed load
    assert sum(kinds.values()) == TRAVELLERS


async def one_seat_for_all(
    front: str,
    gateway: httpx.AsyncClient,
    admin: dict[str, str],
    make_token: Callable[..., str],
) -> Counter[str]:
    """Every traveller asks the gateway `front` for the same seat at once; the answers."""
    flight = await create_flight(gateway, admin, days=11)
    body = {"flightId": flight["flightId"], "seatNumber": "12C"}
    start = asyncio.Event()
    connections = httpx.Limits(max_connections=TRAVELLERS)
    async with httpx.AsyncClient(
        base_url=front, limits=connections, timeout=60, trust_env=False
    ) as client:

        async def traveller(user_id: int) -> httpx.Response | Exception:
            await start.wait()
            try:
                return await client.post(
                    "/api/seats/lock", json=body, headers=bearer(make_token(700_000 + user_id))
                )
            except httpx.HTTPError as exc:
                return exc

        tasks = [asyncio.ensure_future(traveller(i)) for i in range(TRAVELLERS)]
        await asyncio.sleep(0.2)
        start.set()
        answers = await asyncio.gather(*tasks)

    kinds: Counter[str] = Counter()
    for answer in answers:
        if isinstance(answer, Exception):
            kinds[f"error {type(answer).__name__}"] += 1
        elif answer.status_code == 503:
            assert answer.headers["retry-after"].isdigit(), answer.headers
            assert answer.headers["content-type"] == "application/problem+json"
            kinds[f"503 {answer.json()['code']}"] += 1
        else:
            kinds[f"{answer.status_code} {answer.json().get('code', '')}".strip()] += 1
    return kinds
