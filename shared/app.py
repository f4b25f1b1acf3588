"""`create_app()`: every service's FastAPI app is built here, the same way.

It wires the request-id / access-log / metrics middleware, the request body limits
(`shared.limits`), the problem+json error handlers (a 405's `Allow` names every method of the
path), `/health`, `/ready` and `/metrics`, and the resources (database, Redis, token verifier,
service token) that live for the app's lifetime on `app.state`. Every response says `nosniff`
and, unless it set its own, `Cache-Control: no-store`; `/x/` is a 404, never a redirect.
"""

import asyncio
import itertools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.db import Database
from shared.errors import DomainError, domain_error_response, internal_error, problem_response
from shared.limits import BodyLimits
from shared.logging import configure_logging, request_id_var, user_id_var
from shared.metrics import LATENCY, REQUESTS
from shared.openapi import install_openapi
from shared.overload import LoadShedder
from shared.redis import Keys, create_redis
from shared.security import JwksKeys, TokenVerifier
from shared.service_identity import ServiceIdentity
from shared.services import BY_NAME
from shared.settings import BaseServiceSettings
from shared.textguard import TextGuard
from shared.tracing import Tracing, setup_tracing, telemetry_config

log = logging.getLogger("shared.app")
access_log = logging.getLogger("access")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Request ids this process makes: a random prefix per process and a counter, unique across
# processes like a UUID, without a random draw per request.
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


_UNLOGGED = {"/health", "/metrics"}

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def response_headers(
    headers: Sequence[tuple[bytes, bytes]], request_id: str
) -> list[tuple[bytes, bytes]]:
    """The app's headers with our request id, and on every response that does not say
    otherwise: no content sniffing, nothing stored by a browser or a shared cache (it is user
    data); a cacheable answer (the JWKS) sets its own Cache-Control."""
    out: list[tuple[bytes, bytes]] = []
    sniff = cache = False
    for name, value in headers:
        lower = name.lower()
        if lower == b"x-request-id":
            continue
        if lower == b"cache-control":
            cache = True
        elif lower == b"x-content-type-options":
            sniff = True
        out.append((name, value))
    out.append((b"x-request-id", request_id.encode()))
    if not sniff:
        out.append((b"x-content-type-options", b"nosniff"))
    if not cache:
        out.append((b"cache-control", b"no-store"))
    return out


class RequestContextMiddleware:
    """Request id in and out, one access-log line and the metrics for every request."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), ""
        )
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else new_request_id()
        rid_token = request_id_var.set(request_id)
        uid_token = user_id_var.set(None)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = response_headers(message.get("headers", []), request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here, while the request id is still known: Starlette's outermost
            # error handler would run after this middleware has reset it, and its 500
            # would carry neither the X-Request-ID header nor the body's requestId.
            if response_started:
                raise
            request = Request(scope)
            await unexpected_error(request, exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = (
                getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            )
            method = scope["method"]
            REQUESTS.labels(self.service, method, route_path, str(status)).inc()
            LATENCY.labels(self.service, method, route_path).observe(elapsed)
            if scope["path"] not in _UNLOGGED:
                access_log.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "route": route_path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
            request_id_var.reset(rid_token)
            user_id_var.reset(uid_token)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo `input` back: it may be a password or a card number.
    return [
        {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


# SQLSTATE classes that mean "the database cannot serve us right now", not "bad request":
# connection exceptions, insufficient resources (too many clients), operator intervention,
# and a transaction Postgres chose to roll back (a deadlock victim, a serialization failure):
# each is worth a retry, none is the client's fault.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "40001", "40P01")


def is_unavailable(exc: BaseException) -> bool:
    """Is this a backing store (Postgres or Redis) being down or overloaded?

    Postgres errors come wrapped (SQLAlchemy's DBAPIError) or not (a raw driver connection):
    the SQLSTATE is looked for along the chain of causes."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        state = str(getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None) or "")
        if state.startswith(_UNAVAILABLE_SQLSTATES) or (
            seen is not exc and isinstance(seen, ConnectionError | TimeoutError)
        ):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def unexpected_error(request: Request, exc: BaseException) -> JSONResponse:
    """A backing store down or overloaded: 503 with Retry-After; anything else: a logged 500."""
    if not is_unavailable(exc):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return internal_error(request)
    log.warning(
        "backing store unavailable on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
    )
    return problem_response(
        request,
        status=503,
        code="SERVICE_UNAVAILABLE",
        title="Service temporarily unavailable",
        detail="A backing store is unavailable or overloaded; retry shortly.",
        headers={"Retry-After": "1"},
    )


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route answers at this path. Starlette's 405 names only the methods
    of the first route whose path matches, not those of the others at the same path."""
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return []
    methods: set[str] = set()
    for route in iter_route_contexts(router.routes):
        if route.methods and route.matches(scope)[0] != Match.NONE:
            methods.update(route.methods)
    known = [m for m in _METHOD_ORDER if m in methods]
    return known + sorted(methods.difference(_METHOD_ORDER))


def install_error_handlers(app: FastAPI) -> None:
    async def _backing_store(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error(request, exc)

    for exc_type in (
        DBAPIError,
        RedisConnectionError,
        RedisTimeoutError,
        ConnectionError,
        TimeoutError,
    ):
        app.add_exception_handler(exc_type, _backing_store)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "message": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return problem_response(
            request,
            status=422,
            code="VALIDATION_FAILED",
            title="Request validation failed",
            detail=f"{where}: {first['message']}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (allowed := allowed_methods(request.scope)):
            headers["Allow"] = ", ".join(allowed)
        return problem_response(
            request,
            status=exc.status_code,
            code=code,
            title=code.replace("_", " ").capitalize(),
            detail=str(exc.detail),
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return await _backing_store(request, exc)


def _health_router(service: str) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/ready", summary="Readiness: database and Redis reachable")
    async def ready(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        state = request.app.state
        probes = {"redis": state.redis.ping()}
        if getattr(state, "db", None) is not None:
            probes["database"] = state.db.ping()
        for name, probe in probes.items():
            try:
                await asyncio.wait_for(probe, timeout=2.0)
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready
                checks[name] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "service": service, "checks": checks},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_app(
    *,
    settings: BaseServiceSettings,
    title: str,
    routers: Sequence[APIRouter] = (),
    uses_database: bool = True,
    lifespan: Lifespan | None = None,
    description: str = "",
    inner: Sequence[Middleware] = (),
    max_body_bytes: int | None = None,
    body_timeout: float | None = None,
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    """Build a service's app. `lifespan` runs after the shared resources exist; `inner` are
    the app's own ASGI middleware, run after the kit's and before routing. The request body
    limits default to the settings' `max_body_bytes` and `body_read_timeout_seconds`.
    `app_class`: a FastAPI subclass, for what must happen before FastAPI sees a request."""
    # FastAPI's native OpenTelemetry costs a provider lookup per request; on only when asked
    # (`OTEL_ENABLED`), or with traces (`shared.tracing`: the app's own tracer provider).
    tracing = setup_tracing(settings)
    app = app_class(
        title=title,
        description=description,
        lifespan=app_lifespan(settings=settings, uses_database=uses_database, lifespan=lifespan),
        version="1.0.0",
        telemetry=telemetry_config(settings, tracing),
        # `/x/` is not `/x`: no redirect (its Location would name this process's own host).
        redirect_slashes=False,
    )
    app.state.tracing = tracing
    install_middleware(
        app,
        settings=settings,
        inner=inner,
        max_body_bytes=settings.max_body_bytes if max_body_bytes is None else max_body_bytes,
        body_timeout=settings.body_read_timeout_seconds if body_timeout is None else body_timeout,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(_health_router(settings.service_name))
    for router in routers:
        app.include_router(router)
    return app


def app_lifespan(
    *, settings: BaseServiceSettings, uses_database: bool, lifespan: Lifespan | None
) -> Lifespan:
    """The shared resources around the service's own `lifespan`: opened first, closed last."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        tracing: Tracing | None = getattr(app.state, "tracing", None)
        configure_logging(
            service=settings.service_name,
            level=settings.log_level,
            json_lines=settings.log_json,
            trace_ids=settings.otel_enabled or tracing is not None,
        )
        open_resources(app.state, settings=settings, uses_database=uses_database)
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await close_resources(app.state)

    return run


def open_resources(state: State, *, settings: BaseServiceSettings, uses_database: bool) -> None:
    """Database, Redis, service identity and token verifier, for the app's lifetime."""
    state.settings = settings
    state.db = (
        Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            application_name=settings.service_name,
        )
        if uses_database
        else None
    )
    state.redis = create_redis(settings.redis_url, cluster_nodes=settings.redis_cluster_nodes)
    state.keys = Keys(settings.redis_prefix)
    if (tracing := getattr(state, "tracing", None)) is not None:
        tracing.instrument(engine=state.db.engine if state.db else None, redis=state.redis)
    state.service_identity = ServiceIdentity(
        directory=settings.service_keys_dir,
        service=settings.service_name,
        generate=settings.environment != "production",
    )
    if settings.environment == "production" and settings.service_name in BY_NAME:
        # A missing key stops the service now, not its first internal call.
        state.service_identity.private_key  # noqa: B018
    # Tests may point JWKS fetching at an in-process auth app via `jwks_transport`.
    state.jwks_http = httpx.AsyncClient(transport=getattr(state, "jwks_transport", None))
    if getattr(state, "verifier", None) is None:
        state.verifier = TokenVerifier(
            JwksKeys(settings.jwks_url, client=state.jwks_http),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
        )


async def close_resources(state: State) -> None:
    """Close what `open_resources` opened, so no connection outlives the app."""
    await state.jwks_http.aclose()
    await state.redis.aclose()
    if state.db is not None:
        await state.db.dispose()
    if (tracing := getattr(state, "tracing", None)) is not None:
        await tracing.flush()


def install_middleware(
    app: FastAPI,
    *,
    settings: BaseServiceSettings,
    inner: Sequence[Middleware],
    max_body_bytes: int,
    body_timeout: float,
) -> None:
    """The kit's middleware around the app's own (`inner`), in the one order that works."""
    # Outermost first: client address, then request id / access log / metrics, then the
    # request body read whole (bounded), then load shedding (its 503s are logged and counted),
    # then the app's own (`inner`), then routing.
    for middleware in reversed(inner):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.add_middleware(
        LoadShedder,
        service=settings.service_name,
        max_in_flight=settings.max_concurrent_requests,
        max_queued=settings.max_queued_requests,
        queue_timeout=settings.queue_timeout_seconds,
    )
    # The whole body, bounded in size and time, before the request takes a turn.
    app.add_middleware(BodyLimits, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(TextGuard)  # control characters in path, query or headers: 422
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    # The client address (rate limits, login throttling) from trusted proxies only, the same
    # in every process and in in-process tests.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
