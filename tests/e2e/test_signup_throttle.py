"""Sign-ups are counted per client address as the gateway resolves it (trusted proxies only),
on an auth process of its own with a low SIGNUP_MAX_PER_ADDRESS behind a gateway of its own."""

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import E2E_REDIS_PREFIX
from tests.e2e.conftest import PASSWORD, unique_address
from tests.e2e.stack import Stack
from tests.helpers import assert_problem, unique_email

pytestmark = pytest.mark.e2e

LIMIT = 3


async def test_sign_ups_per_address_through_the_gateway(stack: Stack) -> None:
    with (
        stack.copy(
            "auth",
            SIGNUP_MAX_PER_ADDRESS=str(LIMIT),
            REDIS_PREFIX=f"{E2E_REDIS_PREFIX}signup-{uuid.uuid4().hex[:6]}:",
        ) as auth,
        stack.side_gateway("gateway-signup", AUTH_SERVICE_URL=auth.url) as front,
    ):
        async with httpx.AsyncClient(base_url=front.url, timeout=30, trust_env=False) as client:

            def signup(address: str, password: str = PASSWORD) -> object:
                body = {"name": "Farm", "email": unique_email("farm"), "password": password}
                # From 127.0.0.1 (a trusted proxy) the gateway takes the client address from
                # X-Forwarded-For, and passes on only the address it resolved.
                return client.post(
                    "/api/auth/signup", json=body, headers={"X-Forwarded-For": address}
                )

            address, other = unique_address(), unique_address()
            burst = await asyncio.gather(*(signup(address) for _ in range(LIMIT + 5)))
            assert sorted(r.status_code for r in burst) == [201] * LIMIT + [429] * 5
            limited = next(r for r in burst if r.status_code == 429)
            assert_problem(limited, 429, "SIGNUP_RATE_LIMITED")
            assert 1 <= int(limited.headers["retry-after"]) <= 3600
            # A forged hop in front of the real one changes nothing: the address is the last
            # hop the trusted proxy saw.
            forged = await signup(f"{other}, {address}")
            assert_problem(forged, 429, "SIGNUP_RATE_LIMITED")
            # Another address has its own window; a weak password is refused, not hashed.
            assert (await signup(other)).status_code == 201
            weak = await signup(other, password="password123")
            assert_problem(weak, 422, "PASSWORD_TOO_WEAK")
