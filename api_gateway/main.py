"""The API gateway app: `uvicorn api_gateway.main:app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from api_gateway.access import AddressList
from api_gateway.api import router
from api_gateway.config import GatewaySettings, get_settings
from api_gateway.dispatch import ProxyDispatch
from api_gateway.health import StatusCache
from api_gateway.openapi import OpenApiCache
from api_gateway.proxy import Proxy, without_trace_context
from api_gateway.ratelimit import GatewayRateLimits
from shared.app import create_app
from shared.http import AiohttpTransport
from shared.ratelimit import LeasedLimiter
from shared.tracing import traced_transport

# FastAPI's own docs would describe only the gateway: the merged ones replace them.
_FASTAPI_DOCS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# The paths the gateway answers itself; every other one is proxied (`ProxyDispatch`).
OWN_PATHS = frozenset({"/health", "/ready", "/status", "/metrics", "/openapi.json", "/docs"})


class GatewayApp(FastAPI):
    """The gateway's FastAPI app: a client's `traceparent`, `tracestate` and `baggage` are
    dropped before anything reads them. FastAPI's telemetry, outermost, would otherwise continue
    the client's trace (its id, and its sampled flag: any client could force sampling), and an
    untraced gateway would hand them on to the services. A trace starts at the gateway; its
    upstream calls send their own `traceparent` when it traces."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["headers"] = without_trace_context(scope["headers"])
        await super().__call__(scope, receive, send)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: GatewaySettings = state.settings
    # One line per proxied call is the access log's job; httpx's own would double it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Tests may route upstream calls to in-process apps via `upstream_transport`.
    transport = getattr(state, "upstream_transport", None) or AiohttpTransport(
        connections_per_host=settings.gateway_upstream_connections_per_service
    )
    # When the gateway traces, every upstream call is a client span and sends `traceparent`.
    transport = traced_transport(state, transport)
    state.proxy = Proxy(
        transport=transport,
        service_urls=settings.service_urls,
        timeout=settings.gateway_upstream_timeout_seconds,
        connect_timeout=settings.gateway_connect_timeout_seconds,
        traced=state.tracing is not None,
    )
    # Status probes and the merged docs: a few calls now and then, a plain httpx client.
    state.upstream = httpx.AsyncClient(transport=transport, trust_env=False)
    state.status_cache = StatusCache(ttl=settings.gateway_status_cache_seconds)
    state.metrics_readers = AddressList(settings.gateway_metrics_allow_ips)
    state.rate_limits = GatewayRateLimits(
        limiter=LeasedLimiter(state.redis),
        keys=state.keys,
        per_user=settings.rate_limit_per_user,
        per_address=settings.rate_limit_per_address,
        window_seconds=settings.rate_limit_window_seconds,
    )
    state.openapi_cache = OpenApiCache(ttl=settings.gateway_openapi_cache_seconds)
    try:
        yield
    finally:
        await state.upstream.aclose()  # closes the transport it shares with the proxy


def build_app(settings: GatewaySettings) -> FastAPI:
    app = create_app(
        settings=settings,
        title="Flightbook API gateway",
        description="Routes, authenticates and rate-limits every public call.",
        uses_database=False,
        lifespan=lifespan,
        inner=[Middleware(ProxyDispatch, own_paths=OWN_PATHS)],
        # Read whole before anything is forwarded: a slow client never holds an upstream
        # connection (nor a load-shedding turn).
        max_body_bytes=settings.gateway_max_body_bytes,
        body_timeout=settings.gateway_body_timeout_seconds,
        app_class=GatewayApp,
    )
    app.openapi_url = app.docs_url = app.redoc_url = None
    routes = app.router.routes
    routes[:] = [r for r in routes if getattr(r, "path", None) not in _FASTAPI_DOCS]
    # The first matching route wins: the gateway's `/metrics` (its scrapers only) goes before
    # the kit's; `/health` and `/ready` are the kit's.
    app.include_router(router)
    routes.insert(0, routes.pop())
    return app


app = build_app(get_settings())
