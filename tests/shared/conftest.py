"""Fixtures for the shared-kit tests: settings from the run's environment, Redis, a real
upstream HTTP server, and helpers to run a `create_app` app in-process."""

import asyncio
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from shared.redis import Keys, create_redis
from shared.settings import BaseServiceSettings
from tests.shared import upstream as upstream_app


@pytest.fixture(scope="session")
def settings(test_database: str) -> BaseServiceSettings:
    return BaseServiceSettings(service_name="shared-tests")


@pytest.fixture(scope="session")
def keys(settings: BaseServiceSettings) -> Keys:
    return Keys(settings.redis_prefix)


@pytest.fixture(scope="session")
async def redis(settings: BaseServiceSettings) -> AsyncIterator[Redis]:
    client = create_redis(settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """`tests.shared.upstream.app` served by uvicorn on a real socket, in a thread."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        upstream_app.app,
        log_config=None,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "upstream did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
    sock.close()


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
