"""The gateway as an app, in front of fake services: routing, headers, auth, errors, limits."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api_gateway.conftest import FakeServices, GatewayFactory, header, mint, user_headers
from tests.conftest import REDIS_PREFIX
from tests.helpers import assert_problem


async def test_routes_by_prefix_and_keeps_the_query_string(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    target = (
        "/api/flights/search?source=DEL&destination=BOM&date=2030-01-15"
        "&passengers=2&x=a%20b+c&flag&empty=&amp=%26&slash=%2F"
    )
    response = await gateway.get(target, headers=user_headers())
    assert response.status_code == 200
    doc = response.json()
    assert doc["service"] == "flight-search"
    assert doc["target"] == target
    assert len(fake_services.requests) == 1


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/auth/me", "auth"),
        ("/api/airports?q=del", "flight-search"),
        ("/api/seats/12", "seat"),
        ("/api/bookings", "booking"),
        ("/api/payments/3", "payment"),
        ("/api/discounts/apply", "discount"),
        ("/api/tickets/4/pdf", "ticket"),
        ("/api/notifications", "notification"),
    ],
)
async def test_each_prefix_reaches_its_service(
    gateway: httpx.AsyncClient, path: str, service: str
) -> None:
    response = await gateway.get(path, headers=user_headers())
    assert response.json()["service"] == service
    assert response.json()["target"] == path


async def test_forwarding_headers_both_ways(gateway: httpx.AsyncClient) -> None:
    token = mint(5)
    response = await gateway.get(
        "/api/bookings/1",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Request-ID": "req-abc-123",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Host": "spoofed.example",
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "do-not-forward",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Upgrade": "h2c",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Accept": "application/json",
        },
    )
    assert response.status_code == 200
    doc = response.json()
    assert header(doc, "authorization") == [f"Bearer {token}"]
    assert header(doc, "x-request-id") == ["req-abc-123"]
    # The peer 192.0.2.10 is no trusted proxy: its X-Forwarded-For claim is dropped.
    assert header(doc, "x-forwarded-for") == ["192.0.2.10"]
    assert header(doc, "x-forwarded-proto") == ["http"]
    assert header(doc, "x-forwarded-host") == ["gateway.test"]
    assert header(doc, "host") == ["booking.test"]
    assert header(doc, "accept") == ["application/json"]
    for hop in ("x-secret", "keep-alive", "te", "upgrade", "proxy-authorization"):
        assert header(doc, hop) == [], hop

    assert response.headers["x-request-id"] == "req-abc-123"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert "x-hop" not in response.headers and "keep-alive" not in response.headers


async def test_the_proxy_adds_no_headers_of_its_own(gateway: httpx.AsyncClient) -> None:
    request = gateway.build_request("GET", "/api/seats/1", headers=user_headers())
    for name in ("accept", "accept-encoding", "user-agent"):
        del request.headers[name]
    doc = (await gateway.send(request)).json()
    # e.g. no `Accept-Encoding: gzip` the client never asked for
    for name in ("accept", "accept-encoding", "user-agent"):
        assert header(doc, name) == [], name


async def test_a_request_id_is_made_and_passed_on(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/seats/1", headers=user_headers())
    rid = response.headers["x-request-id"]
    assert rid and header(response.json(), "x-request-id") == [rid]


async def test_request_bodies_are_streamed_through(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/api/bookings", json={"flightId": 1, "seats": 2}, headers=user_headers()
    )
    doc = response.json()
    assert (doc["method"], doc["body"]) == ("POST", '{"flightId":1,"seats":2}')
    assert header(doc, "content-type") == ["application/json"]

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"a":', b' "chunked', b' body"}'):
            yield part

    response = await gateway.put("/api/seats/lock", content=chunks(), headers=user_headers())
    assert response.json()["body"] == '{"a": "chunked body"}'


async def test_a_get_without_body_is_sent_without_one(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/api/seats/1", headers=user_headers())).json()
    assert header(doc, "transfer-encoding") == [] and header(doc, "content-length") == []


async def test_responses_are_streamed_back(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(50):
            yield f"line {i}\n".encode()

    async def streaming(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={"content-type": "text/plain"}, content=body())

    fake_services.handler = streaming
    async with gateway.stream("GET", "/api/tickets/1/pdf", headers=user_headers()) as response:
        assert response.status_code == 201
        text = (await response.aread()).decode()
    assert text == "".join(f"line {i}\n" for i in range(50))


async def test_service_errors_pass_through_unchanged(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    problem = b'{"code":"SEAT_UNAVAILABLE","status":409}'

    async def conflict(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            409, headers={"content-type": "application/problem+json"}, content=problem
        )

    fake_services.handler = conflict
    response = await gateway.post("/api/seats/lock", json={}, headers=user_headers())
    assert response.status_code == 409
    assert response.content == problem
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (httpx.ConnectError("refused"), 503, "SERVICE_UNAVAILABLE"),
        (httpx.ConnectTimeout("slow connect"), 503, "SERVICE_UNAVAILABLE"),
        (httpx.ReadTimeout("slow answer"), 504, "UPSTREAM_TIMEOUT"),
        (httpx.RemoteProtocolError("garbage"), 502, "BAD_GATEWAY"),
    ],
)
async def test_upstream_trouble_becomes_a_problem(
    gateway: httpx.AsyncClient,
    fake_services: FakeServices,
    error: Exception,
    status: int,
    code: str,
) -> None:
    async def failing(request: httpx.Request) -> httpx.Response:
        raise error

    fake_services.handler = failing
    response = await gateway.get("/api/payments/1", headers=user_headers())
    body = assert_problem(response, status, code)
    assert body["service"] == "payment"
    assert "payment" in body["detail"]


async def test_missing_or_invalid_tokens_never_reach_a_service(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    assert_problem(await gateway.get("/api/bookings"), 401, "UNAUTHORIZED")
    assert_problem(
        await gateway.get("/api/bookings", headers={"Authorization": "Basic abc"}),
        401,
        "UNAUTHORIZED",
    )
    for token in (
        "not-a-jwt",
        mint(exp=1),
        mint(aud="someone-else"),
        mint(iss="someone-else"),
        mint(typ="refresh"),
    ):
        response = await gateway.get("/api/bookings", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "INVALID_TOKEN")
        assert response.headers["www-authenticate"] == "Bearer"
    assert fake_services.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/auth/signup"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("GET", "/.well-known/jwks.json"),
    ],
)
async def test_public_paths_need_no_token(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await gateway.request(method, path)
    assert response.status_code == 200
    assert response.json()["service"] == "auth"


@pytest.mark.parametrize(
    "path",
    [
        "/internal/events",
        "/api/auth/internal/users/1",
        "/api/bookings/internal/1",
        "/api/seats/%69nternal/holds",
        "/api/seats/%2569nternal/holds",
        "/api/seats%2Finternal/holds",
        "/api/seats/INTERNAL/holds",
        "/api/seats/%2e%2e/internal/holds",
        "/api/nope",
        "/nope",
    ],
)
async def test_internal_and_unknown_paths_are_404(
    gateway: httpx.AsyncClient, fake_services: FakeServices, path: str
) -> None:
    for headers in ({}, user_headers()):
        assert_problem(await gateway.get(path, headers=headers), 404, "NOT_FOUND")
        assert_problem(await gateway.post(path, headers=headers), 404, "NOT_FOUND")
    assert fake_services.requests == []


async def test_rate_limit_per_user_and_per_address(make_gateway: GatewayFactory) -> None:
    client = await make_gateway(rate_limit_per_user=2, rate_limit_per_address=4)
    for _ in range(2):
        assert (await client.get("/api/auth/me", headers=user_headers(1))).status_code == 200
    limited = await client.get("/api/auth/me", headers=user_headers(1))
    body = assert_problem(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert body["limit"] == 2
    # another user from the same address still gets through, until the address is spent
    assert (await client.get("/api/auth/me", headers=user_headers(2))).status_code == 200
    assert_problem(await client.post("/api/auth/login"), 429, "RATE_LIMITED")


async def test_rate_limits_are_shared_by_replicas_and_kept_per_address(
    make_gateway: GatewayFactory,
) -> None:
    # Two gateway replicas on the same Redis namespace count together.
    settings = {
        "rate_limit_per_user": 0,  # 0: no per-user limit
        "rate_limit_per_address": 2,
        "redis_prefix": f"{REDIS_PREFIX}gw-{uuid.uuid4().hex[:8]}:",
    }
    replica_a = await make_gateway(client=("198.51.100.1", 1), **settings)
    replica_b = await make_gateway(client=("198.51.100.1", 2), **settings)
    assert (await replica_a.post("/api/auth/login")).status_code == 200
    assert (await replica_b.post("/api/auth/login")).status_code == 200
    assert (await replica_a.post("/api/auth/login")).status_code == 429
    assert (await replica_b.get("/api/bookings", headers=user_headers(9))).status_code == 429
    other_address = await make_gateway(client=("198.51.100.2", 1), **settings)
    assert (await other_address.post("/api/auth/login")).status_code == 200


ALL_NINE = {
    "gateway",
    "auth",
    "flight-search",
    "seat",
    "booking",
    "payment",
    "discount",
    "ticket",
    "notification",
}


async def booking_down(request: httpx.Request) -> httpx.Response:
    if request.url.host == "booking.test":
        raise httpx.ConnectError("refused")
    if request.url.host == "ticket.test":
        return httpx.Response(503)
    return httpx.Response(200, json={"status": "ok"})


async def test_health_is_the_gateways_own_liveness_and_asks_no_service(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    fake_services.handler = booking_down
    for _ in range(5):
        response = await gateway.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "service": "gateway"}
    # Ready: the gateway's own Redis; a service that is down does not make the gateway unready.
    ready = await gateway.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"redis": "ok"}
    assert fake_services.requests == []


async def test_status_lists_every_service(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway(gateway_status_cache_seconds=0)
    response = await gateway.get("/status")
    assert response.status_code == 200
    doc = response.json()
    assert doc["status"] == "ok"
    assert set(doc["services"]) == ALL_NINE
    assert all(s["status"] == "up" for s in doc["services"].values())
    assert all(isinstance(s["latencyMs"], float) for s in doc["services"].values())
    assert doc["checkedAt"]

    fake_services.handler = booking_down
    response = await gateway.get("/status")
    assert response.status_code == 200  # the gateway itself is alive
    doc = response.json()
    assert doc["status"] == "degraded"
    assert doc["services"]["booking"]["status"] == "down"
    assert doc["services"]["ticket"]["status"] == "down"
    assert doc["services"]["auth"]["status"] == "up"


async def test_status_is_cached_and_one_probe_round_serves_concurrent_callers(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway(gateway_status_cache_seconds=3)

    async def slow_health(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.1)
        return httpx.Response(200, json={"status": "ok"})

    fake_services.handler = slow_health
    answers = await asyncio.gather(*(gateway.get("/status") for _ in range(50)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["checkedAt"] for a in answers}) == 1
    assert len(fake_services.requests) == 8  # one round: each service asked once
    for _ in range(20):
        await gateway.get("/status")
    assert len(fake_services.requests) == 8  # served from the cache
    await asyncio.sleep(3.1)
    await gateway.get("/status")
    assert len(fake_services.requests) == 16  # expired: one more round


async def test_docs_and_metrics_are_the_gateways_own(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway()
    docs = await gateway.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text
    for path in ("/redoc", "/docs/oauth2-redirect", "/metrics"):
        assert_problem(await gateway.get(path), 404, "NOT_FOUND")
    # Its metrics are for its scrapers (GATEWAY_METRICS_ALLOW_IPS), nobody else.
    scraper = await make_gateway(client=("127.0.0.1", 40000))
    metrics = await scraper.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    network = await make_gateway(client=("10.1.2.3", 40000), gateway_metrics_allow_ips="10.0.0.0/8")
    assert (await network.get("/metrics")).status_code == 200
    assert fake_services.requests == []  # nothing was proxied


async def test_merged_openapi_is_cached_and_skips_missing_services(
    gateway: httpx.AsyncClient, fake_services: FakeServices
) -> None:
    def doc(path: str, schema: str) -> dict[str, Any]:
        ok = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        }
        return {
            "openapi": "3.1.0",
            "info": {"title": f"{schema} service", "version": "1"},
            "paths": {
                path: {"get": {"operationId": f"get_{schema}", "responses": {"200": ok}}},
                "/health": {"get": {"responses": {}}},
            },
            "components": {"schemas": {schema: {"type": "object"}, "Unused": {}}},
        }

    async def openapi(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(200, json=doc("/api/auth/me", "User"))
        if request.url.host == "seat.test":
            return httpx.Response(200, json=doc("/api/seats/{flight_id}", "SeatMap"))
        raise httpx.ConnectError("down")

    fake_services.handler = openapi
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    merged = response.json()
    assert set(merged["paths"]) == {"/api/auth/me", "/api/seats/{flight_id}"}
    assert set(merged["components"]["schemas"]) == {"User", "SeatMap", "Problem"}
    assert "booking" in merged["info"]["x-missing-services"]
    calls = len(fake_services.requests)
    await gateway.get("/openapi.json")
    assert len(fake_services.requests) == calls  # served from the cache
