"""The gateway's traces: a server span per request named after its service, a client span per
upstream call, and the trace carried on to the service in `traceparent`; a trace starts at the
gateway, whatever trace context a client sends."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api_gateway.main import build_app
from shared.security import StaticKeys, TokenVerifier
from tests.api_gateway.conftest import (
    KEY,
    KID,
    FakeServices,
    GatewayFactory,
    gateway_settings,
    user_headers,
)
from tests.helpers.tracing import TRACED, capture_spans, flushed, service_of, trace_id_of

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CLIENT_CONTEXT = {"traceparent": CALLER, "tracestate": "vendor=x", "baggage": "user=mallory"}


@pytest.fixture
async def traced_gateway(
    monkeypatch: pytest.MonkeyPatch, fake_services: FakeServices
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = capture_spans(monkeypatch)
    app = build_app(gateway_settings(**TRACED))
    app.state.upstream_transport = httpx.MockTransport(fake_services)
    app.state.verifier = TokenVerifier(
        StaticKeys({KID: KEY.public_key()}), issuer="flightbook-auth", audience="flightbook"
    )
    async with LifespanManager(app, startup_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("192.0.2.10", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
            yield app, c, exporter


async def test_a_proxied_request_is_a_server_and_a_client_span_of_one_trace(
    traced_gateway: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
    fake_services: FakeServices,
) -> None:
    app, client, exporter = traced_gateway
    r = await client.get("/api/flights/search?source=DEL", headers=user_headers())
    assert r.status_code == 200, r.text
    spans = await flushed(exporter, app)
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    [call] = [s for s in spans if s.kind is SpanKind.CLIENT and "http.method" in s.attributes]
    assert server.name == "GET →flight-search"
    assert server.parent is None
    assert call.context.trace_id == server.context.trace_id
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert {service_of(s) for s in spans} == {"gateway"}
    # The service gets the gateway's call as its parent.
    [(_, forwarded, _)] = fake_services.requests
    [sent] = forwarded.headers.get_list("traceparent")
    assert sent.startswith(f"00-{call.context.trace_id:032x}-{call.context.span_id:016x}-")


async def test_a_clients_trace_context_is_not_continued(
    traced_gateway: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
    fake_services: FakeServices,
) -> None:
    """A client picks neither the trace's id nor its sampling (`traceparent` flag 01)."""
    app, client, exporter = traced_gateway
    headers = {**user_headers(), **CLIENT_CONTEXT}
    r = await client.get("/api/flights/search?source=DEL", headers=headers)
    assert r.status_code == 200, r.text
    spans = await flushed(exporter, app)
    assert spans
    assert all(s.context.trace_id != trace_id_of(CALLER) for s in spans)
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.parent is None
    [(_, forwarded, _)] = fake_services.requests
    [sent] = forwarded.headers.get_list("traceparent")
    assert trace_id_of(sent) == server.context.trace_id
    assert "tracestate" not in forwarded.headers and "baggage" not in forwarded.headers


async def test_an_untraced_gateway_forwards_no_client_trace_context(
    make_gateway: GatewayFactory, fake_services: FakeServices
) -> None:
    client = await make_gateway()
    headers = {**user_headers(), **CLIENT_CONTEXT}
    r = await client.get("/api/flights/search?source=DEL", headers=headers)
    assert r.status_code == 200, r.text
    [(_, forwarded, _)] = fake_services.requests
    assert not {"traceparent", "tracestate", "baggage"} & set(forwarded.headers.keys())


async def test_the_gateways_own_paths_are_traced_by_route_and_probes_not_at_all(
    traced_gateway: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    app, client, exporter = traced_gateway
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    servers: list[Any] = [s for s in await flushed(exporter, app) if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /openapi.json"]


async def test_a_made_up_method_names_no_span(
    traced_gateway: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    app, client, exporter = traced_gateway
    r = await client.request("FROBNICATE", "/api/flights/search", headers=user_headers())
    assert r.status_code == 200, r.text
    r = await client.request("PATCH", "/api/flights/search", headers=user_headers())
    assert r.status_code == 200, r.text
    spans = await flushed(exporter, app)
    servers = [s.name for s in spans if s.kind is SpanKind.SERVER]
    assert servers == ["_OTHER →flight-search", "PATCH →flight-search"]
