"""A service URL setting may list the service's replicas: the gateway sends requests to each in
turn, and `/status` calls the service up only while every one of them is."""

import asyncio
import socket

import httpx
from asgi_lifespan import LifespanManager

from api_gateway.config import replica_urls
from api_gateway.main import build_app
from shared.http import AiohttpTransport
from shared.security import StaticKeys, TokenVerifier
from tests.api_gateway.conftest import (
    KEY,
    KID,
    FakeServices,
    GatewayFactory,
    gateway_settings,
    user_headers,
)

TWO_BOOKINGS = "http://booking.test, http://booking-2.test"


def test_a_url_setting_names_one_process_or_a_comma_list() -> None:
    assert replica_urls("http://booking.test") == ["http://booking.test"]
    assert replica_urls(TWO_BOOKINGS) == ["http://booking.test", "http://booking-2.test"]
    assert replica_urls("http://a.test,") == ["http://a.test"]


async def test_requests_go_to_each_replica_in_turn(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway(booking_service_url=TWO_BOOKINGS)
    for _ in range(6):
        response = await gateway.get("/api/bookings", headers=user_headers())
        assert response.status_code == 200, response.text
    hosts = [request.url.host for _, request, _ in fake_services.requests]
    assert hosts == ["booking.test", "booking-2.test"] * 3


async def test_status_asks_every_replica(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    gateway = await make_gateway(booking_service_url=TWO_BOOKINGS, gateway_status_cache_seconds=0)
    doc = (await gateway.get("/status")).json()
    assert doc["status"] == "ok" and doc["services"]["booking"]["status"] == "up"
    asked = [r.url.host for _, r, _ in fake_services.requests if r.url.path == "/health"]
    assert sorted(h for h in asked if h.startswith("booking")) == [
        "booking-2.test",
        "booking.test",
    ]

    async def second_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "booking-2.test":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"status": "ok"})

    fake_services.handler = second_down
    doc = (await gateway.get("/status")).json()
    assert doc["status"] == "degraded"
    assert doc["services"]["booking"] == {
        "status": "down",
        "latencyMs": doc["services"]["booking"]["latencyMs"],
        "error": "unreachable",
    }


async def test_a_replica_that_cannot_be_reached_is_skipped(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    async def first_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "booking.test":
            raise httpx.ConnectError("refused")
        return await FakeServices.echo(request)

    fake_services.handler = first_down
    gateway = await make_gateway(booking_service_url=TWO_BOOKINGS)
    for _ in range(4):
        response = await gateway.post("/api/bookings", headers=user_headers(), json={"a": 1})
        assert response.status_code == 200, response.text
        assert response.json()["body"] == '{"a":1}'
    hosts = [request.url.host for _, request, _ in fake_services.requests]
    # Each turn of the dead replica is tried once, then the live one.
    assert hosts == ["booking.test", "booking-2.test", "booking-2.test"] * 2
    assert all(r.headers["host"] == r.url.host for _, r, _ in fake_services.requests)


async def test_every_replica_down_is_a_503_after_one_retry(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("no answer")

    fake_services.handler = down
    gateway = await make_gateway(booking_service_url=TWO_BOOKINGS)
    response = await gateway.get("/api/bookings", headers=user_headers())
    assert response.status_code == 503, response.text
    assert [r.url.host for _, r, _ in fake_services.requests] == ["booking.test", "booking-2.test"]


async def test_a_timeout_after_sending_is_not_retried(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("too slow")

    fake_services.handler = slow
    gateway = await make_gateway(booking_service_url=TWO_BOOKINGS)
    response = await gateway.post("/api/bookings", headers=user_headers(), json={})
    assert response.status_code == 504, response.text
    assert len(fake_services.requests) == 1


async def test_a_dead_port_fails_over_to_the_live_replica() -> None:
    """Over the real transport: one replica's port refuses connections."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n"
            b'connection: close\r\n\r\n{"ok":true}'
        )
        await writer.drain()
        writer.close()

    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
    live = await asyncio.start_server(answer, "127.0.0.1", 0)
    live_port = live.sockets[0].getsockname()[1]
    urls = f"http://127.0.0.1:{dead_port}, http://127.0.0.1:{live_port}"
    app = build_app(gateway_settings(booking_service_url=urls))
    app.state.upstream_transport = AiohttpTransport()
    app.state.verifier = TokenVerifier(
        StaticKeys({KID: KEY.public_key()}), issuer="flightbook-auth", audience="flightbook"
    )
    try:
        async with LifespanManager(app, startup_timeout=30) as manager:
            transport = httpx.ASGITransport(app=manager.app, client=("192.0.2.10", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as c:
                for _ in range(4):
                    response = await c.get("/api/bookings", headers=user_headers())
                    assert response.status_code == 200, response.text
                    assert response.json() == {"ok": True}
    finally:
        live.close()
        await live.wait_closed()
