"""End-to-end fixtures: the real processes, started once per test run.

`stack` starts every service and the gateway (see `stack.py`); the tests talk to the gateway
(`gateway`), or straight to a service (`stack.services["auth"].url`) where the point is that
the service itself refuses something too.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import E2E_DATABASE_URL, E2E_REDIS_PREFIX, ROOT, TMP, run_manage
from tests.e2e.stack import Stack, base_environment
from tests.helpers import bearer, unique_email


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(test_database: str) -> Iterator[Stack]:
    """All nine services and the gateway, healthy; torn down at the end of the run.

    The processes get a database and a Redis prefix of their own: their event consumers,
    sweepers and payment recovery must never act on the in-process tests' data (nor theirs
    on the processes'), whatever order the tests run in.
    """
    log_dir = TMP / "e2e-logs"
    log_dir.mkdir(exist_ok=True)
    own = {"DATABASE_URL": E2E_DATABASE_URL, "REDIS_PREFIX": E2E_REDIS_PREFIX}
    run_manage("check", "--wait", "20", env=own)
    run_manage("migrate", env=own)
    stack = Stack(
        log_dir=log_dir,
        base_env=base_environment(
            LOG_LEVEL="INFO",
            OUTBOX_LISTEN="true",
            # Every e2e sign-up comes from 127.0.0.1: the per-address sign-up limit (tested
            # in-process, tests/auth_service/test_signup_limits.py) must not cut the suite.
            SIGNUP_MAX_PER_ADDRESS="1000000",
            **own,
        ),
        # The shared gateway must never throttle the suite (every test comes from one address);
        # the rate limit itself is tested on a gateway of its own.
        gateway_env={"RATE_LIMIT_PER_USER": "1000000", "RATE_LIMIT_PER_ADDRESS": "1000000"},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        run_manage("dropdb", env=own)


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> str:
    return stack.gateway.url


@pytest.fixture(scope="session")
def service_urls(stack: Stack) -> dict[str, str]:
    """Service name (as in `shared.services`) -> base URL of its process."""
    return stack.service_urls


@pytest.fixture
async def gateway(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=15.0, trust_env=False) as client:
        yield client


def unique_address() -> str:
    """A client address of its own (TEST-NET-2), so per-address throttles don't mix tests."""
    n = uuid.uuid4().int
    return f"198.51.{n % 250 + 1}.{(n >> 8) % 250 + 1}"


PASSWORD = "correct horse 1"
SignUp = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def signup(gateway: httpx.AsyncClient) -> SignUp:
    """`await signup()`: a new user through the gateway; its tokens, email and password."""

    async def make(*, name: str = "Test Traveller", password: str | None = None) -> dict:
        email = unique_email()
        password = password or PASSWORD
        response = await gateway.post(
            "/api/auth/signup", json={"name": name, "email": email, "password": password}
        )
        assert response.status_code == 201, response.text
        return {**response.json(), "email": email, "password": password}

    return make


@pytest.fixture(scope="session")
async def reference_data(stack: Stack) -> None:
    """Airports and aircraft types in the flight catalog (what `make seed` loads first)."""
    from flight_search_service.airports import load_reference_data
    from shared.db import Database

    db = Database(E2E_DATABASE_URL, pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            await load_reference_data(session=session)
            await session.commit()
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def discount_codes(stack: Stack) -> None:
    """The seed's discount codes (FLY100, SAVE200, ...), loaded as `make seed` loads them."""
    seeded = subprocess.run(
        [sys.executable, "-c", "import asyncio, discount_service.seed as s; asyncio.run(s.seed())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": E2E_DATABASE_URL, "REDIS_PREFIX": E2E_REDIS_PREFIX},
    )
    assert seeded.returncode == 0, seeded.stderr


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    """An administrator (the token is signed with the run's key, as the auth service signs)."""
    return bearer(make_token(900_001, role="admin"))
