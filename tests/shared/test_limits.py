"""shared.limits via create_app: request bodies bounded in size and in time, as problem+json,
read whole before the request takes a load-shedding turn."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from shared.app import create_app
from shared.limits import _DISCARD_BYTES
from shared.settings import BaseServiceSettings
from tests.helpers import Chunks, assert_problem
from tests.shared.conftest import serve

LIMIT = 1024
UPLOAD_LIMIT = 8 * LIMIT
TINY_LIMIT = 16


def routes(calls: list[str]) -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        calls.append("echo")
        return {"size": len(await request.body())}

    @router.post("/upload", max_body_size=UPLOAD_LIMIT)
    async def upload(request: Request) -> dict[str, int]:
        calls.append("upload")
        return {"size": len(await request.body())}

    @router.post("/tiny", max_body_size=TINY_LIMIT)
    async def tiny(request: Request) -> dict[str, int]:
        calls.append("tiny")
        return {"size": len(await request.body())}

    @router.post("/held")
    async def held(request: Request) -> dict[str, int]:
        await asyncio.sleep(0.5)
        return {"size": len(await request.body())}

    return router


def build(calls: list[str], **overrides: Any) -> FastAPI:
    settings = BaseServiceSettings(
        **{
            "service_name": "limits-test",
            "max_body_bytes": LIMIT,
            "body_read_timeout_seconds": 0.5,
            **overrides,
        }
    )
    return create_app(
        settings=settings, title="Limits test", routers=[routes(calls)], uses_database=False
    )


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
async def client(calls: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(build(calls)) as c:
        yield c


def assert_too_large(response: httpx.Response, limit: int) -> None:
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert response.headers["connection"] == "close"
    assert body["limit"] == limit


async def test_bodies_within_the_limit_pass(client: httpx.AsyncClient) -> None:
    assert (await client.post("/echo", content=b"x" * LIMIT)).json() == {"size": LIMIT}
    assert (await client.post("/echo", content=b"")).json() == {"size": 0}
    chunked = Chunks(100, count=10)
    assert (await client.post("/echo", content=chunked)).json() == {"size": 1000}


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient, calls: list[str]
) -> None:
    assert_too_large(await client.post("/echo", content=b"x" * (LIMIT + 1)), LIMIT)
    # Refused on the declared length alone: nothing is kept; what follows is read and dropped
    # up to a bound (so that the client, still sending, gets the answer), then cut off.
    body = Chunks(64 * LIMIT, count=100)  # 6.4 MB
    request = client.build_request("POST", "/echo", content=body)
    request.headers["content-length"] = str(100 * 64 * LIMIT)
    assert_too_large(await client.send(request), LIMIT)
    assert body.sent <= _DISCARD_BYTES + 64 * LIMIT
    # Unknown paths too: no route takes more than the limit.
    assert_too_large(await client.post("/nowhere", content=b"x" * (LIMIT + 1)), LIMIT)
    assert calls == []


async def test_a_chunked_body_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, calls: list[str]
) -> None:
    body = Chunks(4096, count=1000)  # 4 MB, no Content-Length
    assert_too_large(await client.post("/echo", content=body), LIMIT)
    # Kept: up to the first chunk past the limit; then dropped up to a bound, then cut off.
    assert body.sent <= LIMIT + 4096 + _DISCARD_BYTES + 4096
    assert calls == []


async def test_a_route_may_declare_a_larger_or_smaller_limit(
    client: httpx.AsyncClient, calls: list[str]
) -> None:
    assert (await client.post("/upload", content=b"x" * UPLOAD_LIMIT)).json() == {
        "size": UPLOAD_LIMIT
    }
    big = Chunks(LIMIT, count=8)
    assert (await client.post("/upload", content=big)).json() == {"size": UPLOAD_LIMIT}
    assert_too_large(await client.post("/upload", content=b"x" * (UPLOAD_LIMIT + 1)), UPLOAD_LIMIT)
    assert_too_large(await client.post("/upload", content=Chunks(LIMIT, count=9)), UPLOAD_LIMIT)
    # The default still holds everywhere else.
    assert_too_large(await client.post("/echo", content=b"x" * (LIMIT + 1)), LIMIT)
    # A smaller declared limit is a problem+json 413 as well (not FastAPI's plain text).
    assert (await client.post("/tiny", content=b"x" * TINY_LIMIT)).json() == {"size": TINY_LIMIT}
    assert_too_large(await client.post("/tiny", content=b"x" * (TINY_LIMIT + 1)), TINY_LIMIT)
    assert calls == ["upload", "upload", "tiny"]


async def test_a_slow_body_is_cut_off_with_408(client: httpx.AsyncClient, calls: list[str]) -> None:
    started = asyncio.get_running_loop().time()
    response = await client.post("/echo", content=Chunks(10, count=20, pause=0.1))
    elapsed = asyncio.get_running_loop().time() - started
    assert_problem(response, 408, "REQUEST_TIMEOUT")
    assert response.headers["connection"] == "close"
    assert elapsed > 0.4  # at the deadline, not at once (the 408 says it was not read whole)
    assert calls == []


async def test_a_slow_body_takes_no_load_shedding_turn(calls: list[str]) -> None:
    """One request at a time, none queued: a client still sending its body holds no turn."""
    app = build(calls, max_concurrent_requests=1, max_queued_requests=0)
    async with serve(app) as client:
        slow = asyncio.ensure_future(client.post("/echo", content=Chunks(10, count=3, pause=0.15)))
        await asyncio.sleep(0.1)  # the slow one is mid-body
        fast = await client.post("/echo", content=b"abc")
        assert fast.json() == {"size": 3}
        assert (await slow).json() == {"size": 30}
        # A request being handled does hold the one turn: the next is refused, 503.
        held = asyncio.ensure_future(client.post("/held", content=b"x"))
        await asyncio.sleep(0.2)
        refused = await client.post("/echo", content=b"abc")
        assert (refused.status_code, refused.json()["code"]) == (503, "OVERLOADED")
        assert (await held).status_code == 200
