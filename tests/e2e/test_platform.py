"""The stack as a whole through the gateway: health, docs, request ids, routing, outages."""

import asyncio
import http.client
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.services import SERVICES
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Process, Stack, closed_port_url
from tests.helpers import assert_problem, bearer

pytestmark = pytest.mark.e2e

ALL_NINE = {"gateway", *(s.name for s in SERVICES)}
SLOW_SECONDS = 2.5


async def status_when(client: httpx.AsyncClient, ok: bool, within: float = 30) -> dict[str, Any]:
    """The gateway's `/status` (cached a few seconds) once it says `ok` (or not)."""
    deadline = time.monotonic() + within
    while True:
        doc = (await client.get("/status")).json()
        if (doc["status"] == "ok") == ok or time.monotonic() > deadline:
            return doc
        await asyncio.sleep(0.5)


async def test_gateway_status_lists_all_nine_up_within_30_seconds(
    gateway: httpx.AsyncClient,
) -> None:
    doc = await status_when(gateway, ok=True)
    assert doc["status"] == "ok", doc
    assert set(doc["services"]) == ALL_NINE
    assert all(s["status"] == "up" for s in doc["services"].values()), doc
    ready = await gateway.get("/ready")
    assert ready.status_code == 200, ready.text
    # `/health` is the gateway's own liveness, nothing behind it.
    health = await gateway.get("/health")
    assert health.json() == {"status": "ok", "service": "gateway"}


async def test_every_service_answers_its_own_health_and_ready(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        for name, url in stack.service_urls.items():
            health = await client.get(f"{url}/health")
            assert (health.json()["status"], health.json()["service"]) == ("ok", name)
            ready = await client.get(f"{url}/ready")
            assert ready.status_code == 200, (name, ready.text)


async def test_docs_show_the_merged_api(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/openapi.json")).json()
    paths = set(doc["paths"])
    auth_paths = {"/api/auth/signup", "/api/auth/login", "/api/auth/me", "/.well-known/jwks.json"}
    assert paths >= auth_paths
    assert not {"/health", "/ready", "/metrics"} & paths
    assert not [p for p in paths if "/internal/" in p]
    assert "x-missing-services" not in doc["info"]
    assert doc["paths"]["/api/auth/login"]["post"]["security"] == []
    ui = await gateway.get("/docs")
    assert ui.status_code == 200
    assert "swagger-ui" in ui.text and "'/openapi.json'" in ui.text.replace('"', "'")


async def test_request_id_is_echoed_and_reaches_the_service(
    gateway: httpx.AsyncClient, stack: Stack, signup: SignUp
) -> None:
    user = await signup()
    request_id = f"e2e-{uuid.uuid4().hex}"
    response = await gateway.get(
        "/api/auth/me", headers={**bearer(user["token"]), "X-Request-ID": request_id}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    # the auth service logged the request under the same id (its access-log line)
    log = stack.services["auth"].log_path
    for _ in range(50):
        if request_id in log.read_text(errors="replace"):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"{request_id} not in {log}")
    # and a made-up one is generated when the client sends none, on errors too
    missing = await gateway.get("/api/nowhere")
    assert_problem(missing, 404, "NOT_FOUND")
    assert len(missing.headers["x-request-id"]) >= 16


async def test_unknown_and_internal_paths_are_404_problems(
    gateway: httpx.AsyncClient, gateway_url: str, signup: SignUp
) -> None:
    user = await signup()
    for path in (
        "/api/nowhere",
        "/internal/events",
        "/api/auth/internal/users/1",
        "/api/bookings/internal/holds",
        "/api/auth/%69nternal/users/1",
        "/api/auth/%2569nternal/users/1",
        "/api/auth%2Finternal%2Fusers",
        "/api/auth/INTERNAL/users",
    ):
        for headers in ({}, bearer(user["token"])):
            assert_problem(await gateway.get(path, headers=headers), 404, "NOT_FOUND")

    # dot segments straight on the wire (httpx would resolve them before sending)
    host, port = gateway_url.removeprefix("http://").split(":")

    def raw_get(path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {user['token']}"})
            response = conn.getresponse()
            return response.status, response.getheader("content-type") or ""
        finally:
            conn.close()

    for path in (
        "/api/auth/../internal/users/1",
        "/api/auth/me/../../internal/x",
        "/api/auth/%2e%2e/internal/users",
        "/api/auth/./me",
    ):
        status, content_type = await asyncio.to_thread(raw_get, path)
        assert (status, content_type) == (404, "application/problem+json"), path


class EchoService:
    """A stand-in service on a real socket: records each request line, headers and body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                if self.path.startswith("/api/flights/slow"):
                    time.sleep(SLOW_SECONDS)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("transfer-encoding") == "chunked":
                    body = _read_chunked(self.rfile)
                if self.path != "/health":
                    seen.append({"target": self.path, "headers": self.headers, "body": body})
                payload = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "X-Hop")
                self.send_header("X-Hop", "must-not-pass")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_chunked(stream: Any) -> bytes:
    body = b""
    while True:
        size = int(stream.readline().strip(), 16)
        if size == 0:
            stream.readline()
            return body
        body += stream.read(size)
        stream.readline()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoService]:
    service = EchoService()
    yield service
    service.close()


@pytest.fixture(scope="module")
def side_gateway(stack: Stack, echo: EchoService) -> Iterator[Process]:
    """A second gateway: flight search is the echo service, the ticket service is down."""
    proc = stack.start_gateway(
        "gateway-side",
        FLIGHT_SEARCH_URL=echo.url,
        TICKET_SERVICE_URL=closed_port_url(),
        GATEWAY_UPSTREAM_TIMEOUT_SECONDS="1",
    )
    yield proc
    proc.stop()


async def test_path_query_and_headers_reach_the_service_as_sent(
    side_gateway: Process, echo: EchoService, signup: SignUp
) -> None:
    """The original gateway dropped the query string: every search answered `[]`."""
    user = await signup()
    target = (
        "/api/flights/search?source=DEL&destination=BOM&date=2030-01-15&passengers=2"
        "&x=a%20b+c&flag&empty=&amp=%26&slash=%2F"
    )
    echo.requests.clear()
    async with httpx.AsyncClient(base_url=side_gateway.url, trust_env=False) as client:
        response = await client.get(
            target,
            headers={
                **bearer(user["token"]),
                "X-Request-ID": "e2e-echo-1",
                "X-Forwarded-For": "203.0.113.50",
                "Connection": "keep-alive, X-Secret",
                "X-Secret": "hop-by-hop",
                "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            },
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "e2e-echo-1"
        assert "x-hop" not in response.headers

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"flightId": 1, '
            yield b'"seats": 2}'

        posted = await client.post("/api/flights", content=chunks(), headers=bearer(user["token"]))
        assert posted.status_code == 200

    got, post = echo.requests
    assert got["target"] == target
    headers = got["headers"]
    assert headers["authorization"] == f"Bearer {user['token']}"
    assert headers["x-request-id"] == "e2e-echo-1"
    # The test client is on 127.0.0.1, a trusted proxy: its X-Forwarded-For names the client.
    assert headers["x-forwarded-for"] == "203.0.113.50"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == side_gateway.url.removeprefix("http://")
    assert headers["host"] == echo.url.removeprefix("http://")
    assert headers.get("x-secret") is None and headers.get("proxy-authorization") is None
    assert post["body"] == b'{"flightId": 1, "seats": 2}'


async def test_an_upstream_that_is_down_is_a_503(side_gateway: Process, signup: SignUp) -> None:
    user = await signup()
    async with httpx.AsyncClient(base_url=side_gateway.url, timeout=15, trust_env=False) as c:
        response = await c.get("/api/tickets/1", headers=bearer(user["token"]))
        body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
        assert body["service"] == "ticket" and "ticket" in body["detail"]
        assert (await c.get("/health")).status_code == 200  # the gateway itself is alive
        assert (await c.get("/ready")).status_code == 200  # and ready: its Redis is up
        status = await c.get("/status")
        assert status.status_code == 200
        assert status.json()["status"] == "degraded"
        assert status.json()["services"]["ticket"]["status"] == "down"
        assert status.json()["services"]["auth"]["status"] == "up"
        # the rest still works through the same gateway
        assert (await c.get("/api/auth/me", headers=bearer(user["token"]))).status_code == 200


async def test_an_upstream_that_is_too_slow_is_a_504(side_gateway: Process, signup: SignUp) -> None:
    user = await signup()
    async with httpx.AsyncClient(base_url=side_gateway.url, timeout=15, trust_env=False) as c:
        started = time.monotonic()
        response = await c.get("/api/flights/slow", headers=bearer(user["token"]))
        body = assert_problem(response, 504, "UPSTREAM_TIMEOUT")
        assert body["service"] == "flight-search"
        assert time.monotonic() - started < SLOW_SECONDS


async def test_stopping_and_restarting_a_service(
    stack: Stack, gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    stack.stop_service("notification")
    try:
        response = await gateway.get("/api/notifications", headers=bearer(user["token"]))
        assert_problem(response, 503, "SERVICE_UNAVAILABLE")
        status = await status_when(gateway, ok=False, within=15)
        assert status["services"]["notification"]["status"] == "down", status
    finally:
        await asyncio.to_thread(stack.start_service, "notification")
    status = await status_when(gateway, ok=True, within=15)
    assert status["status"] == "ok", status
