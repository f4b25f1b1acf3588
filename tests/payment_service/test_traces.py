"""One payment through the gateway is one trace: gateway -> payment -> booking -> seat.

The real apps in-process (the booking saga's stack and the real gateway in front of it), each
tracing as deployed (a collector's URL set, `tests.helpers.tracing`) into one in-memory exporter.
Each app has its own tracer provider, so a span's `service.name` says which app made it; the
apps share nothing but the W3C `traceparent` header each call carries.
"""

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api_gateway.config import GatewaySettings
from api_gateway.main import build_app as build_gateway_app
from tests.booking_service.harness import Stack, StackFactory, new_flight
from tests.conftest import REDIS_PREFIX
from tests.helpers import SUCCESS_CARD
from tests.helpers.tracing import TRACED, capture_spans, flushed, service_of, trace_id_of


class ByHost(httpx.AsyncBaseTransport):
    """The gateway's upstream: each service's URL to that service's in-process app."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.routes = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.routes[request.url.netloc.decode()].handle_async_request(request)


GatewayFor = Callable[
    [dict[str, FastAPI], httpx.AsyncBaseTransport], Awaitable[tuple[FastAPI, httpx.AsyncClient]]
]


@pytest.fixture
async def gateway_for() -> AsyncIterator[GatewayFor]:
    """`gateway_for(apps, jwks_transport)`: the real gateway, tracing, in front of `apps`."""
    managers: list[LifespanManager] = []

    async def make(
        apps: dict[str, FastAPI], jwks_transport: httpx.AsyncBaseTransport
    ) -> tuple[FastAPI, httpx.AsyncClient]:
        settings = GatewaySettings(redis_prefix=f"{REDIS_PREFIX}gw-traces:", **TRACED)
        app = build_gateway_app(settings)
        urls = settings.service_urls
        app.state.upstream_transport = ByHost(
            {httpx.URL(urls[name]).netloc.decode(): target for name, target in apps.items()}
        )
        app.state.jwks_transport = jwks_transport
        manager = LifespanManager(app, startup_timeout=30, shutdown_timeout=30)
        await manager.__aenter__()
        managers.append(manager)
        transport = httpx.ASGITransport(app=manager.app, client=("192.0.2.20", 50000))
        return app, httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    yield make
    for manager in reversed(managers):
        await manager.__aexit__(None, None, None)


@pytest.fixture
async def traced_stack(
    monkeypatch: pytest.MonkeyPatch, stacks: StackFactory
) -> AsyncIterator[tuple[Stack, InMemorySpanExporter]]:
    """Seat, booking and payment, tracing into one in-memory exporter (stopped after the test,
    not at the end of the session)."""
    exporter = capture_spans(monkeypatch)
    stack = await stacks(seat=TRACED, booking=TRACED, payment=TRACED)
    yield stack, exporter
    await stack.close()


async def test_one_payment_through_the_gateway_is_one_trace(
    traced_stack: tuple[Stack, InMemorySpanExporter],
    jwks_transport: httpx.AsyncBaseTransport,
    gateway_for: GatewayFor,
    new_user: Callable[..., tuple[int, dict[str, str]]],
) -> None:
    stack, exporter = traced_stack
    services = {"seat": stack.seat_app, "booking": stack.booking_app, "payment": stack.payment_app}
    gateway, client = await gateway_for(services, jwks_transport)
    _, headers = new_user()
    flight_id = await new_flight()
    booking = await stack.booked(headers, flight_id, "12C")

    async with client:
        r = await client.post(
            "/api/payments/pay",
            json={"bookingId": booking["id"], "amount": booking["amountDue"], "card": SUCCESS_CARD},
            headers=headers,
        )
    assert r.status_code == 201, r.text
    assert (await stack.booking(headers, booking["id"]))["status"] == "CONFIRMED"

    spans = await flushed(exporter, gateway, *services.values())
    [entry] = [s for s in spans if s.kind is SpanKind.SERVER and s.name == "POST →payment"]
    assert entry.parent is None  # the client sent no trace: the gateway starts it
    trace = [s for s in spans if s.context.trace_id == entry.context.trace_id]
    assert {service_of(s) for s in trace} == {"gateway", "payment", "booking", "seat"}
    served = {(service_of(s), s.name) for s in trace if s.kind is SpanKind.SERVER}
    assert ("payment", "POST /api/payments/pay") in served
    assert ("booking", "POST /internal/bookings/{booking_id}/confirm") in served
    assert any(service == "seat" and "/confirm" in name for service, name in served), served
    # Every span but the gateway's first hangs off another span of the same trace.
    ids = {s.context.span_id for s in trace}
    assert all(s.parent is not None and s.parent.span_id in ids for s in trace if s is not entry)
    # The saga's own statements are in it too.
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in trace)
    # And the events it wrote carry it on to their consumers.
    rows = await stack.sql(
        "SELECT type, traceparent FROM payments.outbox WHERE (payload->>'bookingId')::bigint = :b "
        "UNION ALL SELECT type, traceparent FROM bookings.outbox "
        "WHERE (payload->>'bookingId')::bigint = :b AND type = 'booking.confirmed'",
        b=booking["id"],
    )
    assert {r.type for r in rows} >= {"payment.succeeded", "booking.confirmed"}
    assert {trace_id_of(r.traceparent) for r in rows} == {entry.context.trace_id}
