"""Per-run isolation: its own Postgres database, Redis key prefix and signing key.

The environment is set here, at import time, before any service module builds its settings.
The database is created and migrated with the same command `make migrate` runs, and dropped
(with every Redis key of the run) at the end.

`pytest --redis-cluster` runs the tests against a Redis Cluster of three masters started for
the run (`make test-cluster`), `REDIS_CLUSTER_NODES` set before any settings are read.
"""

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from shared import localstores
from tests.helpers.redis_cluster import redis_cluster

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:10]
# DATABASE_URL and REDIS_URL if set, else the defaults, else (nothing there, or
# EMBEDDED_STORES=always) embedded servers started for the run and stopped at its end.
STORES = localstores.ensure(afterwards="stopped when the test run ends", say=False)
BASE_DATABASE_URL = STORES.urls["DATABASE_URL"]
TEST_DATABASE_URL = (
    make_url(BASE_DATABASE_URL)
    .set(database=f"fb_test_{RUN_ID}")
    .render_as_string(hide_password=False)
)
REDIS_URL = STORES.urls["REDIS_URL"]
REDIS_PREFIX = f"fbtest:{RUN_ID}:"
# The e2e processes' own database and key space (under the run's prefix, so cleaned up with it).
E2E_DATABASE_URL = (
    make_url(BASE_DATABASE_URL)
    .set(database=f"fb_test_{RUN_ID}_e2e")
    .render_as_string(hide_password=False)
)
E2E_REDIS_PREFIX = f"{REDIS_PREFIX}e2e:"
TMP = Path(tempfile.mkdtemp(prefix=f"fbtest-{RUN_ID}-"))

SIGNING_KEY = Ed25519PrivateKey.generate()
SIGNING_KEY_FILE = TMP / "auth_signing_key.pem"
SIGNING_KEY_FILE.write_bytes(
    SIGNING_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
)

# Every service's key pair for service tokens (shared.service_identity), made for this run.
SERVICE_KEYS_DIR = TMP / "service-keys"
# The seeded admin's password: this run's own, never one from the repository.
ADMIN_PASSWORD = f"admin-{uuid.uuid4().hex}"

TEST_ENV = {
    "ENVIRONMENT": "test",
    "SERVICE_KEYS_DIR": str(SERVICE_KEYS_DIR),
    "ADMIN_PASSWORD": ADMIN_PASSWORD,
    "DATABASE_URL": TEST_DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "REDIS_PREFIX": REDIS_PREFIX,
    "AUTH_SIGNING_KEY_FILE": str(SIGNING_KEY_FILE),
    "LOG_LEVEL": "WARNING",
    # Many in-process apps (and the e2e processes) share one Postgres, whose max_connections
    # is often 100: small pools keep the whole suite under it.
    "DB_POOL_SIZE": "3",
    "DB_MAX_OVERFLOW": "5",
    # Dozens of in-process apps share this process: their relays poll rather than each hold a
    # LISTEN connection (the e2e processes listen, as deployed; tests/shared covers both).
    "OUTBOX_LISTEN": "false",
}
os.environ.update(TEST_ENV)


# The Redis Cluster of a `--redis-cluster` run, stopped when pytest ends.
_cluster = ExitStack()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run against a Redis Cluster of three masters started for the run",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Start the cluster here, not in a fixture: the service modules build their apps (and
    settings) at import, while the tests are collected, before any fixture runs."""
    if config.getoption("--redis-cluster"):
        nodes = _cluster.enter_context(redis_cluster(TMP / "redis-cluster"))
        TEST_ENV["REDIS_CLUSTER_NODES"] = ",".join(nodes)
        os.environ["REDIS_CLUSTER_NODES"] = TEST_ENV["REDIS_CLUSTER_NODES"]


def pytest_report_header(config: pytest.Config) -> str:
    """Where Postgres and Redis are when they are embedded ones (else nothing)."""
    return STORES.line


def pytest_unconfigure(config: pytest.Config) -> None:
    _cluster.close()
    localstores.stop(STORES.started)


def run_manage(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "shared.manage", *args],
        cwd=ROOT,
        check=True,
        env={**os.environ, **TEST_ENV, **(env or {})},
    )


@pytest.fixture(scope="session", autouse=True)
def test_database() -> Any:
    """Create and migrate this run's database; drop it and the run's Redis keys at the end."""
    run_manage("check", "--wait", "20")
    # FB_TEST_SERVICES=auth,seat migrates only those (handy while another service's
    # migration is being written); the default, and CI, migrate every service.
    only = [s for s in os.environ.get("FB_TEST_SERVICES", "").split(",") if s]
    if only:
        for name in only:
            run_manage("migrate", "--service", name)
    else:
        run_manage("migrate")
    yield TEST_DATABASE_URL
    if not os.environ.get("REDIS_CLUSTER_NODES"):  # a cluster goes away with its keys
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000):
            client.unlink(key)
        client.close()
    run_manage("dropdb")


async def app_client(app: Any, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to `app` in-process, with its lifespan running."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", **kw) as c:
            yield c


def signing_kid() -> str:
    from auth_service.keys import SigningKey

    return SigningKey(SIGNING_KEY).kid


@pytest.fixture(scope="session")
def make_token() -> Callable[..., str]:
    """Mint an access token as the auth service would (tests build attacks from it)."""

    def make(
        user_id: int,
        *,
        role: str = "user",
        key: Any = None,
        headers: dict[str, Any] | None = None,
        algorithm: str = "EdDSA",
        **claims: Any,
    ) -> str:
        from tests.helpers import access_claims

        body = access_claims(user_id, role=role, **claims)
        hdrs = {"kid": signing_kid(), **(headers or {})}
        return jwt.encode(
            body, key if key is not None else SIGNING_KEY, algorithm=algorithm, headers=hdrs
        )

    return make
