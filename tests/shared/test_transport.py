"""shared.http.AiohttpTransport: httpx's interface over aiohttp, against a real socket."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.http import AiohttpTransport
from tests.helpers import free_port


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport, timeout=2.0) as client:
        yield client


def header(doc: dict, name: str) -> list[str]:
    return [v for k, v in doc["headers"] if k == name]


async def test_the_target_goes_out_exactly_as_given(http: httpx.AsyncClient, upstream: str) -> None:
    """A proxy must not re-quote: `%2F`, `+`, `%26` and a bare `flag` arrive unchanged."""
    query = "x=a%20b+c&flag&empty=&amp=%26&slash=%2F&q=%C3%A9"
    url = httpx.URL(f"{upstream}/raw").copy_with(query=query.encode())
    doc = (await http.get(url)).json()
    assert doc["target"] == f"/raw?{query}"


async def test_no_header_is_added_and_repeated_ones_stay_separate(upstream: str) -> None:
    transport = AiohttpTransport()
    request = httpx.Request(
        "GET",
        f"{upstream}/raw",
        headers=[("host", "svc.test"), ("x-dup", "1"), ("x-dup", "2")],
    )
    response = await transport.handle_async_request(request)
    doc = httpx.Response(200, content=await response.aread()).json()
    await transport.aclose()
    names = [k for k, _ in doc["headers"]]
    for added in ("user-agent", "accept", "accept-encoding", "content-type"):
        assert added not in names
    assert header(doc, "x-dup") == ["1", "2"]
    assert header(doc, "host") == ["svc.test"]


async def test_bodies_stream_both_ways(http: httpx.AsyncClient, upstream: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"a":', b' "chunked', b' body"}'):
            yield part
            await asyncio.sleep(0.01)

    doc = (await http.post(f"{upstream}/raw", content=chunks())).json()
    assert doc["body"] == '{"a": "chunked body"}'
    assert header(doc, "transfer-encoding") == ["chunked"]

    sized = (await http.post(f"{upstream}/raw", content=b"12345")).json()
    assert (sized["body"], header(sized, "content-length")) == ("12345", ["5"])

    async with http.stream("GET", f"{upstream}/stream", params={"n": 20}) as response:
        parts = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(parts) == b"".join(f"chunk {i}\n".encode() for i in range(20))
    assert len(parts) > 1  # it arrived in pieces, not buffered into one


async def test_a_refused_connection_is_a_connect_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await http.get(f"http://127.0.0.1:{free_port()}/")


async def test_a_slow_answer_is_a_read_timeout(http: httpx.AsyncClient, upstream: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await http.get(f"{upstream}/slow", params={"s": 1}, timeout=0.2)


async def test_a_reset_connection_is_a_transport_error(
    http: httpx.AsyncClient, resetting_server: str
) -> None:
    with pytest.raises(httpx.TransportError):
        await http.get(f"{resetting_server}/")
