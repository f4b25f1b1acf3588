"""A service URL setting may list the service's replicas: the gateway sends requests to each in
turn, and `/status` calls the service up only while every one of them is."""

import httpx

from api_gateway.config import replica_urls
from tests.api_gateway.conftest import FakeServices, GatewayFactory, user_headers

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
