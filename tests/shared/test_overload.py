"""shared.overload.LoadShedder: bounded concurrency, a bounded queue, 503 + Retry-After beyond."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.overload import LoadShedder
from tests.helpers import eventually


class Gate:
    """Holds every request to `/work` until released; counts how many got in."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.inside = 0
        self.most_inside = 0

    async def work(self, request: Request) -> Response:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            await self.open.wait()
        finally:
            self.inside -= 1
        return JSONResponse({"ok": True})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@pytest.fixture
def gate() -> Gate:
    return Gate()


def shedder(gate: Gate, **limits: float) -> LoadShedder:
    app = Starlette(routes=[Route("/work", gate.work), Route("/health", health)])
    return LoadShedder(app, service="test", **limits)  # type: ignore[arg-type]


@pytest.fixture
async def make_client() -> AsyncIterator:
    clients: list[httpx.AsyncClient] = []

    def make(app: LoadShedder) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://svc.test", timeout=10)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_beyond_the_slots_and_the_queue_requests_are_refused_at_once(
    gate: Gate, make_client
) -> None:
    app = shedder(gate, max_in_flight=3, max_queued=2, queue_timeout=30)
    client = make_client(app)
    first = [asyncio.ensure_future(client.get("/work")) for _ in range(5)]
    await eventually(lambda: app.in_flight == 3 and app.queued == 2)

    # Everything beyond 3 running + 2 waiting is answered straight away, while the gate is shut.
    refused = await asyncio.gather(*(client.get("/work") for _ in range(10)))
    for response in refused:
        # Shed before the request-id layer: no X-Request-ID, so not `assert_problem`.
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "OVERLOADED"
    assert gate.most_inside == 3

    gate.open.set()
    answered = await asyncio.gather(*first)
    assert [r.status_code for r in answered] == [200] * 5  # the queued ones got their turn
    assert gate.most_inside == 3


async def test_a_request_that_waits_too_long_for_a_turn_is_refused(gate: Gate, make_client) -> None:
    app = shedder(gate, max_in_flight=1, max_queued=10, queue_timeout=0.2)
    client = make_client(app)
    running = asyncio.ensure_future(client.get("/work"))
    await eventually(lambda: app.in_flight == 1)
    waited = await client.get("/work")
    assert waited.status_code == 503 and waited.json()["code"] == "OVERLOADED"
    assert app.queued == 0
    gate.open.set()
    assert (await running).status_code == 200


async def test_liveness_is_answered_even_when_full(gate: Gate, make_client) -> None:
    app = shedder(gate, max_in_flight=1, max_queued=0, queue_timeout=1)
    client = make_client(app)
    busy = asyncio.ensure_future(client.get("/work"))
    await eventually(lambda: app.in_flight == 1)
    assert (await client.get("/work")).status_code == 503
    assert (await client.get("/health")).status_code == 200
    gate.open.set()
    await busy


async def test_zero_turns_the_limit_off(gate: Gate, make_client) -> None:
    app = shedder(gate, max_in_flight=0, max_queued=0, queue_timeout=0)
    client = make_client(app)
    many = [asyncio.ensure_future(client.get("/work")) for _ in range(50)]
    await eventually(lambda: gate.inside == 50)
    gate.open.set()
    assert Counter(r.status_code for r in await asyncio.gather(*many)) == {200: 50}


async def test_turns_are_given_back_when_a_request_fails(make_client) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    app = LoadShedder(
        Starlette(routes=[Route("/broken", broken)]),
        service="test",
        max_in_flight=2,
        max_queued=0,
        queue_timeout=1,
    )
    client = make_client(app)
    for _ in range(5):
        with pytest.raises(RuntimeError):
            await client.get("/broken")
    assert app.in_flight == 0 and app.queued == 0
