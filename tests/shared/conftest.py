"""Fixtures for the shared-kit tests: settings from the run's environment, Redis, a real
upstream HTTP server, and helpers to run a `create_app` app in-process."""

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from shared.redis import Keys, create_redis
from shared.settings import BaseServiceSettings
from tests.helpers import uvicorn_in_thread
from tests.shared import upstream as upstream_app


@pytest.fixture(scope="session")
def settings(test_database: str) -> BaseServiceSettings:
    return BaseServiceSettings(service_name="shared-tests")


@pytest.fixture(scope="session")
def keys(settings: BaseServiceSettings) -> Keys:
    return Keys(settings.redis_prefix)


@pytest.fixture(scope="session")
async def redis(settings: BaseServiceSettings) -> AsyncIterator[Redis]:
    client = create_redis(settings.redis_url, cluster_nodes=settings.redis_cluster_nodes)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """`tests.shared.upstream.app` served by uvicorn on a real socket, in a thread."""
    with uvicorn_in_thread(upstream_app.app, log_level="warning") as (host, port):
        yield f"http://{host}:{port}"


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for `app` in-process with its lifespan running. App exceptions are not
    re-raised into the test: the test sees the response a real client would."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def resetting_server() -> AsyncIterator[str]:
    """Accepts a connection, reads the request, and resets the connection (RST)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()
