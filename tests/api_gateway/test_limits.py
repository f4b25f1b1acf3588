"""The gateway in front of fake services: bounded bodies, 405s, trailing slashes, and the
headers every answer carries."""

import httpx

from shared.limits import _DISCARD_BYTES
from tests.api_gateway.conftest import FakeServices, GatewayFactory, header, user_headers
from tests.helpers import Chunks, assert_problem

LIMIT = 2048


async def test_a_body_over_the_gateways_limit_never_reaches_a_service(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway(gateway_max_body_bytes=LIMIT)
    response = await gateway.post("/api/auth/signup", content=b"x" * (LIMIT + 1))
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["limit"] == LIMIT
    assert response.headers["connection"] == "close"
    chunked = Chunks(4096, count=1000)
    response = await gateway.post("/api/seats/lock", content=chunked, headers=user_headers())
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert chunked.sent <= LIMIT + 4096 + _DISCARD_BYTES + 4096  # cut off, not read to its end
    assert fake_services.requests == []
    # At the limit it goes through, with its length, even when the client sent it chunked.
    doc = await gateway.post(
        "/api/seats/lock", content=Chunks(512, count=4), headers=user_headers()
    )
    assert doc.json()["body"] == "x" * LIMIT
    assert header(doc.json(), "content-length") == [str(LIMIT)]
    assert header(doc.json(), "transfer-encoding") == []


async def test_a_slow_body_is_cut_off_before_anything_is_forwarded(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway(gateway_body_timeout_seconds=0.3)
    slow = Chunks(10, count=50, pause=0.05)
    response = await gateway.post("/api/auth/login", content=slow)
    assert_problem(response, 408, "REQUEST_TIMEOUT")
    assert response.headers["connection"] == "close"
    assert slow.sent < 500
    assert fake_services.requests == []
    # A body that arrives in time is forwarded whole.
    quick = await gateway.post("/api/auth/login", content=Chunks(10, count=3, pause=0.05))
    assert quick.json()["body"] == "x" * 30


async def test_405_allow_on_the_gateways_own_paths(gateway: httpx.AsyncClient) -> None:
    for method, path in (("POST", "/health"), ("DELETE", "/status"), ("PUT", "/ready")):
        response = await gateway.request(method, path)
        assert_problem(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "GET"


async def test_trailing_slashes_are_not_redirected(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    for path in ("/health/", "/status/", "/docs/"):
        response = await gateway.get(path)
        assert_problem(response, 404, "NOT_FOUND")
        assert "location" not in response.headers
    # A service path is forwarded as sent: the service answers it (404, see tests/e2e).
    doc = (await gateway.get("/api/bookings/", headers=user_headers())).json()
    assert doc["target"] == "/api/bookings/"


async def test_every_answer_says_nosniff_and_no_store_once(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
            return httpx.Response(200, headers=headers, json={"keys": []})
        if request.url.path == "/api/auth/me":  # a service that already says both
            headers = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
            return httpx.Response(200, headers=headers, json={"id": 1})
        return httpx.Response(200, json={"ok": True})

    fake_services.handler = answer
    for response in (
        await gateway.get("/api/bookings", headers=user_headers()),
        await gateway.get("/api/auth/me", headers=user_headers()),
        await gateway.get("/api/bookings"),  # 401 from the gateway itself
        await gateway.get("/nowhere"),
        await gateway.get("/health"),
        await gateway.get("/status"),
    ):
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers.get_list("cache-control") == ["no-store"]
    jwks = await gateway.get("/.well-known/jwks.json")
    assert jwks.headers.get_list("cache-control") == ["public, max-age=300"]
    assert jwks.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_a_services_date_and_server_are_not_passed_on(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    async def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Date": "Mon, 01 Jan 2024 00:00:00 GMT", "Server": "uvicorn"}
        return httpx.Response(200, headers=headers, json={})

    fake_services.handler = answer
    response = await gateway.get("/api/bookings", headers=user_headers())
    # In-process there is no server to add its own; through real processes: tests/e2e.
    assert "date" not in response.headers and "server" not in response.headers
