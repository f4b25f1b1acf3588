"""Bounded requests and HTTP details, against the real processes through the gateway.

Slow clients are raw sockets trickling bytes: a slow body or slow headers must hold nothing but
their own connection (no upstream connection, no load-shedding turn), be cut off once their
deadline passes, and never keep a normal client from being served.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from api_gateway.routes import ROUTES
from shared.services import SERVICES
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Process, Stack
from tests.helpers import assert_problem, bearer

pytestmark = pytest.mark.e2e

DEADLINE = 2.0  # the tight gateway's header and body deadlines, seconds
MAX_BODY = 4096  # the tight gateway's body limit
UPSTREAM_CONNECTIONS = 5  # the tight gateway's pool per service
SLOW_CLIENTS = 50


class Recorder:
    """A stand-in service on a real socket: records every request, answers 200 at once."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, int]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append((self.command, self.path, len(body)))
                payload = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    service = Recorder()
    yield service
    service.close()


@pytest.fixture(scope="module")
def tight_gateway(stack: Stack, recorder: Recorder) -> Iterator[Process]:
    """Flight search is the recorder; short deadlines, a small body limit, a small pool."""
    with stack.side_gateway(
        "gateway-tight",
        FLIGHT_SEARCH_URL=recorder.url,
        GATEWAY_BODY_TIMEOUT_SECONDS=str(DEADLINE),
        HEADER_READ_TIMEOUT_SECONDS=str(DEADLINE),
        GATEWAY_MAX_BODY_BYTES=str(MAX_BODY),
        GATEWAY_UPSTREAM_CONNECTIONS_PER_SERVICE=str(UPSTREAM_CONNECTIONS),
        RATE_LIMIT_PER_USER="1000000",
        RATE_LIMIT_PER_ADDRESS="1000000",
    ) as proc:
        yield proc


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


class SlowClient:
    """One raw connection that sends `head` at once, then trickles `tail` a byte at a time,
    until the server answers or closes. Records when it was cut off and the status line."""

    def __init__(self, url: str, head: bytes, tail: bytes, every: float) -> None:
        self.url, self.head, self.tail, self.every = url, head, tail, every
        self.status: int | None = None
        self.cut_after: float | None = None

    async def run(self, give_up: float) -> None:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(*address(self.url))
        answer = asyncio.ensure_future(reader.read())  # everything, until the server closes
        try:
            async with asyncio.timeout(give_up):
                if self.head:
                    writer.write(self.head)
                for byte in self.tail:
                    done, _ = await asyncio.wait({answer}, timeout=self.every)
                    if done:
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                await asyncio.shield(answer)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            if answer.done() and not answer.cancelled():
                self.cut_after = time.monotonic() - started
                if answer.exception() is None:
                    data = answer.result()
                    if data.startswith(b"HTTP/1.1 "):
                        self.status = int(data.split()[1])
                # else: the server's close reset the connection before the client read the
                # 408 (the server cannot wait for every byte of a slow body): cut off all
                # the same, which is what matters.
            answer.cancel()
            writer.close()


async def served_meanwhile(url: str, request: dict[str, Any], times: int = 3) -> list[float]:
    """A normal client's requests while the slow ones are at it, each answered 200."""
    took = []
    async with httpx.AsyncClient(base_url=url, timeout=15, trust_env=False) as client:
        for _ in range(times):
            started = time.monotonic()
            response = await client.request(**request)
            took.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.3)
    return took


async def test_slow_bodies_hold_no_upstream_connection_and_are_cut_off(
    tight_gateway: Process, recorder: Recorder, signup: SignUp
) -> None:
    token = (await signup())["token"]
    head = (
        "POST /api/flights/slow-body HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    slow = [SlowClient(tight_gateway.url, head, b"{" + b" " * 999, 0.25) for _ in range(50)]
    recorder.requests.clear()
    runs = asyncio.gather(*(c.run(give_up=DEADLINE + 8) for c in slow))
    await asyncio.sleep(0.5)  # every slow client is mid-body
    normal = {"method": "POST", "url": "/api/flights/quick", "json": {}, "headers": bearer(token)}
    await served_meanwhile(tight_gateway.url, normal)  # answered 200 meanwhile
    await runs
    # 50 bodies in flight, 5 upstream connections: had they been taken, the normal client
    # would have waited for one and got a 503 after the connect timeout, not these 200s.
    # Each is cut off by the server at the deadline: a 408, or a reset that overtook it (the
    # server closes on a client still sending; TCP may then drop the unread answer). A client
    # that had to give up by itself has no cut time and fails the bound below.
    assert {c.status for c in slow} <= {408, None}, [c.status for c in slow]
    cut = sorted(c.cut_after or 99 for c in slow)
    assert cut[0] > DEADLINE * 0.9 and cut[-1] < DEADLINE + 3, cut
    # Nothing of theirs reached the service; the normal client's requests did.
    assert recorder.requests == [("POST", "/api/flights/quick", 2)] * 3


async def test_slow_headers_are_cut_off_and_never_block_others(
    tight_gateway: Process, recorder: Recorder
) -> None:
    head = b"GET /api/flights/slow-headers HTTP/1.1\r\nHost: gateway\r\n"
    trickle = b"X-Slow: " + b"a" * 200
    slow = [SlowClient(tight_gateway.url, head, trickle, 0.25) for _ in range(SLOW_CLIENTS)]
    idle = [SlowClient(tight_gateway.url, b"", b"", 0) for _ in range(10)]  # send nothing
    recorder.requests.clear()
    runs = asyncio.gather(*(c.run(give_up=DEADLINE + 8) for c in [*slow, *idle]))
    await asyncio.sleep(0.5)
    normal = {"method": "GET", "url": "/.well-known/jwks.json"}
    await served_meanwhile(tight_gateway.url, normal)  # answered 200 meanwhile
    await runs
    assert {c.status for c in slow} <= {408, None}, [c.status for c in slow]
    cut = sorted(c.cut_after or 99 for c in [*slow, *idle])
    assert cut[0] > DEADLINE * 0.9 and cut[-1] < DEADLINE + 3, cut
    assert [c.status for c in idle] == [None] * 10  # closed without an answer
    assert recorder.requests == []


async def test_bodies_over_the_limit_are_413_before_any_service_sees_them(
    tight_gateway: Process, recorder: Recorder, stack: Stack, gateway: httpx.AsyncClient
) -> None:
    recorder.requests.clear()
    async with httpx.AsyncClient(base_url=tight_gateway.url, trust_env=False) as client:
        response = await client.post("/api/auth/signup", content=b"x" * (MAX_BODY + 1))
        assert assert_problem(response, 413, "PAYLOAD_TOO_LARGE")["limit"] == MAX_BODY

        async def chunks() -> Any:
            for _ in range(100):
                yield b"y" * 1024

        response = await client.post("/api/flights/x", content=chunks())
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    # A client that waits to be invited (Expect: 100-continue) is refused before it sends.
    reader, writer = await asyncio.open_connection(*address(tight_gateway.url))
    writer.write(
        b"POST /api/flights/x HTTP/1.1\r\nHost: gateway\r\nExpect: 100-continue\r\n"
        b"Content-Length: 10000000\r\n\r\n"
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert recorder.requests == []
    # The shared gateway's default limit (64 KiB) and a service's own, straight at it.
    big = {"name": "A", "email": "big@example.com", "password": "x" * 70_000}
    assert_problem(await gateway.post("/api/auth/signup", json=big), 413, "PAYLOAD_TOO_LARGE")
    async with httpx.AsyncClient(base_url=stack.services["auth"].url, trust_env=False) as auth:
        assert_problem(await auth.post("/api/auth/signup", json=big), 413, "PAYLOAD_TOO_LARGE")


async def test_headers_are_sent_once_and_data_is_not_sniffed_or_stored(
    gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    for response in (
        await gateway.get("/api/auth/me", headers=bearer(user["token"])),
        await gateway.get("/api/bookings", headers=bearer(user["token"])),
        await gateway.get("/api/bookings/999999999", headers=bearer(user["token"])),
        await gateway.get("/api/bookings"),  # the gateway's own 401
        await gateway.get("/status"),
    ):
        for name in ("date", "server", "x-request-id"):
            assert len(response.headers.get_list(name)) == 1, (name, response.headers)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers.get_list("cache-control") == ["no-store"]
    jwks = await gateway.get("/.well-known/jwks.json")
    assert jwks.headers.get_list("cache-control") == ["public, max-age=300"]
    assert jwks.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_no_trailing_slash_redirect_and_complete_allow(
    gateway: httpx.AsyncClient, stack: Stack, signup: SignUp
) -> None:
    auth = bearer((await signup())["token"])
    booking = stack.services["booking"].url
    for client_base in (str(gateway.base_url), booking):
        async with httpx.AsyncClient(base_url=client_base, trust_env=False) as client:
            response = await client.get("/api/bookings/", headers=auth)
            assert_problem(response, 404, "NOT_FOUND")
            assert "location" not in response.headers
            # Two routes share these paths (GET lists, POST creates).
            for method, path, allow in (
                ("PATCH", "/api/bookings", "GET, POST"),
                ("DELETE", "/api/bookings/1/cancel", "POST"),
                ("PUT", "/api/discounts", "GET, POST"),
            ):
                if client_base == booking and path.startswith("/api/discounts"):
                    continue
                response = await client.request(method, path, headers=auth)
                assert_problem(response, 405, "METHOD_NOT_ALLOWED")
                assert response.headers["allow"] == allow, (method, path)


async def test_metrics_and_service_docs_are_not_public(
    gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    auth = bearer((await signup())["token"])
    for prefix, _ in ROUTES:
        for own in ("/metrics", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
            response = await gateway.get(prefix + own, headers=auth)
            assert response.status_code in (401, 404, 422), (prefix + own, response.status_code)
            assert "# HELP" not in response.text and '"openapi"' not in response.text
    for path in ("/redoc", "/docs/oauth2-redirect", "/internal/events"):
        assert_problem(await gateway.get(path), 404, "NOT_FOUND")
    # The merged public docs: no internal path in them.
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    assert paths and not [p for p in paths if "internal" in p or p in ("/metrics", "/health")]
    # The gateway's own metrics: its local scraper only, not a client behind a trusted proxy.
    assert (await gateway.get("/metrics")).status_code == 200
    outside = await gateway.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert_problem(outside, 404, "NOT_FOUND")


@pytest.fixture(scope="module")
def recording_gateway(stack: Stack, recorder: Recorder) -> Iterator[Process]:
    """A gateway whose every service is the recorder: it shows what the gateway asks."""
    urls = {info.url_env: recorder.url for info in SERVICES}
    with stack.side_gateway("gateway-recording", GATEWAY_STATUS_CACHE_SECONDS="2", **urls) as proc:
        yield proc


async def test_health_is_cheap_and_status_is_cached_single_flight(
    recording_gateway: Process, recorder: Recorder
) -> None:
    recorder.requests.clear()
    async with httpx.AsyncClient(base_url=recording_gateway.url, trust_env=False) as client:
        for response in await asyncio.gather(*(client.get("/health") for _ in range(50))):
            assert response.json() == {"status": "ok", "service": "gateway"}
        assert recorder.requests == []  # liveness asks nobody
        answers = await asyncio.gather(*(client.get("/status") for _ in range(50)))
        docs = [json.loads(a.content) for a in answers]
        assert {d["status"] for d in docs} == {"ok"}
        assert len({d["checkedAt"] for d in docs}) == 1
        assert sorted(recorder.requests) == [("GET", "/health", 0)] * len(SERVICES)
        await asyncio.sleep(2.2)
        await client.get("/status")
        assert len(recorder.requests) == 2 * len(SERVICES)
