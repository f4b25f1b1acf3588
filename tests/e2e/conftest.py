"""End-to-end fixtures: the real processes, started once per test run.

`stack` starts every service and the gateway (see `stack.py`); the tests talk to the gateway
(`gateway`), or straight to a service (`stack.services["auth"].url`) where the point is that
the service itself refuses something too. `own_stack(label, ...)` starts another stack beside
it, with a database (or one per service), a Redis prefix and settings of its own (the scale
tests: a database per service, two processes of each service).
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from shared.manage import drop_database, ensure_database, migratable
from tests.conftest import REDIS_PREFIX, ROOT, TEST_DATABASE_URL, TMP, run_manage
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
    on the processes'), whatever order the tests run in: `fb_test_<id>_e2e` and
    `fbtest:<id>:e2e:` (`E2E_DATABASE_URL`, `E2E_REDIS_PREFIX`).
    """
    with own_stack("e2e") as stack:
        yield stack


@contextlib.contextmanager
def own_stack(
    label: str, *, database_per_service: bool = False, replicas: Iterable[str] = (), **env: str
) -> Iterator[Stack]:
    """A stack of its own, started: database `fb_test_<id>_<label>` (or one per service,
    `..._<label>_<schema>`, each migrated with that service alone), Redis prefix
    `fbtest:<id>:<label>:`, logs in `<label>-logs`, `env` over every process's settings and a
    second process of each service in `replicas`. Stopped, and its databases dropped, after."""
    databases = _databases(label, per_service=database_per_service)
    owners = {name: url for url, names in databases.items() for name in names}
    log_dir = TMP / f"{label}-logs"
    log_dir.mkdir(exist_ok=True)
    # With a database per service the stack's own one does not exist: nothing may use it.
    url = _database(f"{label}_none") if database_per_service else _database(label)
    own = {"DATABASE_URL": url, "REDIS_PREFIX": f"{REDIS_PREFIX}{label}:"}
    if label != "e2e":  # a second stack beside the session's: one connection kept per process
        own |= {"DB_POOL_SIZE": "1", "DB_MAX_OVERFLOW": "4"}
    stack = Stack(
        log_dir=log_dir,
        base_env=base_environment(
            LOG_LEVEL="INFO",
            OUTBOX_LISTEN="true",
            # Every e2e sign-up comes from 127.0.0.1: the per-address sign-up limit (tested
            # in-process, tests/auth_service/test_signup_limits.py) must not cut the suite.
            SIGNUP_MAX_PER_ADDRESS="1000000",
            **own,
            **env,
        ),
        # The shared gateway must never throttle the suite (every test comes from one address);
        # the rate limit itself is tested on a gateway of its own.
        gateway_env={"RATE_LIMIT_PER_USER": "1000000", "RATE_LIMIT_PER_ADDRESS": "1000000"},
        service_env={name: {"DATABASE_URL": url} for name, url in owners.items()},
        replicas=replicas,
    )
    try:
        _on_the_server(ensure_database, databases)
        _in_parallel(_migrate, databases.items())
        stack.start()
        yield stack
    finally:
        stack.stop()
        _on_the_server(drop_database, databases)


def _database(suffix: str) -> str:
    """The URL of database `fb_test_<id>_<suffix>`."""
    base = make_url(TEST_DATABASE_URL)
    return base.set(database=f"{base.database}_{suffix}").render_as_string(hide_password=False)


def _databases(label: str, *, per_service: bool) -> dict[str, list[str]]:
    """Database URL -> the services that use it."""
    services = migratable()
    if not per_service:
        return {_database(label): [s.name for s in services]}
    return {_database(f"{label}_{s.schema}"): [s.name] for s in services}


def _migrate(database: tuple[str, list[str]]) -> None:
    """As a deployment does it: `python -m shared.manage migrate` with the service's database,
    for each service that uses it (all at once when all do)."""
    url, names = database
    env = {"DATABASE_URL": url}
    if len(names) == len(migratable()):
        run_manage("migrate", env=env)
    else:
        for name in names:
            run_manage("migrate", "--service", name, env=env)


def _in_parallel(job: Callable[[Any], object], items: Iterable[Any]) -> None:
    """`job` for each item at once (each runs `shared.manage` in a process of its own)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(job, items))


def _on_the_server(job: Callable[[str], Awaitable[object]], urls: Iterable[str]) -> None:
    """`job(url)` for every database at once: what `shared.manage check` and `dropdb` do to
    one, in one go (a thread of its own runs the loop: the tests' loop is not this one's)."""

    async def every_one() -> None:
        await asyncio.gather(*(job(url) for url in urls))

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, every_one()).result()


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
    return signer(gateway)


def signer(gateway: httpx.AsyncClient) -> SignUp:
    """`signup` through the gateway `gateway` talks to."""

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
    await load_reference_data(stack)


async def load_reference_data(stack: Stack) -> None:
    """`reference_data`, into `stack`'s flight catalog."""
    from flight_search_service import airports
    from shared.db import Database

    db = Database(stack.database_url("flight-search"), pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            await airports.load_reference_data(session=session)
            await session.commit()
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def discount_codes(stack: Stack) -> None:
    """The seed's discount codes (FLY100, SAVE200, ...), loaded as `make seed` loads them."""
    seed_discount_codes(stack)


def seed_discount_codes(stack: Stack) -> None:
    """`discount_codes`, into `stack`'s discount service."""
    seeded = subprocess.run(
        [sys.executable, "-c", "import asyncio, discount_service.seed as s; asyncio.run(s.seed())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DATABASE_URL": stack.database_url("discount"),
            "REDIS_PREFIX": stack.base_env["REDIS_PREFIX"],
        },
    )
    assert seeded.returncode == 0, seeded.stderr


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    """An administrator (the token is signed with the run's key, as the auth service signs)."""
    return bearer(make_token(900_001, role="admin"))
