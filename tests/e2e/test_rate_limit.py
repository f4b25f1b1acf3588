"""The gateway's rate limit, on a gateway of its own with low limits."""

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import E2E_REDIS_PREFIX
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Process, Stack
from tests.helpers import assert_problem, bearer

pytestmark = pytest.mark.e2e

PER_USER = 3
PER_ADDRESS = 6


@pytest.fixture(scope="module")
def limited_gateway(stack: Stack) -> Iterator[Process]:
    proc = stack.start_gateway(
        "gateway-limited",
        RATE_LIMIT_PER_USER=str(PER_USER),
        RATE_LIMIT_PER_ADDRESS=str(PER_ADDRESS),
        RATE_LIMIT_WINDOW_SECONDS="60",
        # counters of its own, apart from the main gateway's
        REDIS_PREFIX=f"{E2E_REDIS_PREFIX}limited:",
    )
    yield proc
    proc.stop()


async def test_per_user_then_per_address_limits(limited_gateway: Process, signup: SignUp) -> None:
    alice, bob = await signup(), await signup()  # through the main gateway: not counted here
    async with httpx.AsyncClient(base_url=limited_gateway.url, trust_env=False) as client:
        # Give this test an address of its own: uvicorn (--proxy-headers, its default) takes
        # the client address from X-Forwarded-For when the peer is 127.0.0.1, as here.
        client.headers["X-Forwarded-For"] = "192.0.2.77"
        for _ in range(PER_USER):
            ok = await client.get("/api/auth/me", headers=bearer(alice["token"]))
            assert ok.status_code == 200, ok.text
        limited = await client.get("/api/auth/me", headers=bearer(alice["token"]))
        body = assert_problem(limited, 429, "RATE_LIMITED")
        assert 1 <= int(limited.headers["retry-after"]) <= 60, limited.headers
        assert body["limit"] == PER_USER

        # Bob is another user: his own budget, but the same address (4 used so far)
        for _ in range(PER_ADDRESS - PER_USER - 1):
            ok = await client.get("/api/auth/me", headers=bearer(bob["token"]))
            assert ok.status_code == 200, ok.text
        # the address is spent: even a public path is refused now
        by_address = await client.get("/.well-known/jwks.json")
        body = assert_problem(by_address, 429, "RATE_LIMITED")
        assert body["limit"] == PER_ADDRESS
        assert int(by_address.headers["retry-after"]) >= 1

        # another address is unaffected
        other = await client.get(
            "/.well-known/jwks.json", headers={"X-Forwarded-For": "192.0.2.78"}
        )
        assert other.status_code == 200, other.text
