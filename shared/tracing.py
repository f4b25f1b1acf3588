"""Traces: OpenTelemetry spans from the gateway through every service and their events.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: `setup_tracing` returns None, nothing is
instrumented and a request does no tracing work (`publish` alone looks up the current span: a
context variable read per event). On, each app has a tracer provider of its own
(`service.name` is `OTEL_SERVICE_NAME`, by default the service's name; several apps may share
a process, as in the tests), exporting OTLP over http/protobuf, and:

- server spans: FastAPI's native telemetry, given the app's provider by `create_app`; it
  continues the caller's W3C `traceparent` (the gateway drops a client's first, so a trace
  starts at the gateway: `api_gateway.main.GatewayApp`);
- client spans: the internal calls (`shared.http.service_client`) and the gateway's upstream
  calls go through opentelemetry-instrumentation-httpx's transport, which sends `traceparent`;
- SQLAlchemy and Redis spans: the app's own engine and Redis client, instrumented one by one,
  never process-wide; a failed statement's span names the error's class and SQLSTATE, never
  its message (which may quote row values);
- events: `publish` stores the current `traceparent` in the outbox row, the relay carries it in
  the stream entry, and the consumer's span around the handler continues that trace
  (`event_span`).

Traces start at a request or an event: a client span with no parent (a background loop polling
Postgres or Redis) is not sampled.
"""

import asyncio
import weakref
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import httpx
import sqlalchemy.event
from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis, RedisCluster
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import BaseServiceSettings

TRACER_NAME = "flightbook"
# Probes and scrapes, many a minute, are no one's trace.
UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})
_W3C = TraceContextTextMapPropagator()


class EntrySampler(Sampler):
    """A span with a parent follows its parent's decision; a new trace is sampled at `ratio`,
    except one that a client call (SQL, Redis, HTTP) would start on its own."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self._inner = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"EntrySampler{{ParentBased{{TraceIdRatioBased{{{self.ratio}}}}}}}"


class Tracing:
    """One app's tracer provider, and what instruments its clients with it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(TRACER_NAME)

    def transport(self, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """`inner` with a client span per request and the `traceparent` header sent."""
        # The instrumentations are imported only by an app that traces (a tenth of a second).
        from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

        return AsyncOpenTelemetryTransport(inner, tracer_provider=self.provider)

    def instrument(self, *, engine: AsyncEngine | None, redis: Redis | RedisCluster) -> None:
        """SQL statement spans on `engine`, command spans on `redis` (this client only)."""
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        if engine is not None:
            meter = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy")
            pool_usage = meter.create_up_down_counter("db.client.connections.usage")
            tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
            EngineTracer(tracer, engine.sync_engine, pool_usage)  # type: ignore[no-untyped-call]
            _redact_sql_errors(engine)
        RedisInstrumentor.instrument_client(redis, tracer_provider=self.provider)

    async def flush(self) -> None:
        """Export what is buffered (off the event loop: the collector may be slow)."""
        await asyncio.to_thread(self.provider.force_flush, 5_000)


def _redact_sql_errors(engine: AsyncEngine) -> None:
    """Swap the SQLAlchemy instrumentation's error handler for `_sql_error_span`: its own puts
    `str(exception)` in the span's status, and a driver's text quotes row values (asyncpg's
    `DETAIL: Key (email)=(alice@x.com) already exists.`)."""
    from opentelemetry.instrumentation.sqlalchemy import engine as instrumented

    sync_engine = engine.sync_engine
    theirs = instrumented._handle_error
    if sqlalchemy.event.contains(sync_engine, "handle_error", theirs):
        sqlalchemy.event.remove(sync_engine, "handle_error", theirs)
        # Their registry (for `remove_all_event_listeners`) must not name it any more.
        instrumented.EngineTracer._dispose_of_event_listener(  # type: ignore[no-untyped-call]
            (weakref.ref(sync_engine), "handle_error", theirs)
        )
    if not sqlalchemy.event.contains(sync_engine, "handle_error", _sql_error_span):
        sqlalchemy.event.listen(sync_engine, "handle_error", _sql_error_span)


def _sql_error_span(context: ExceptionContext) -> None:
    """End a failed statement's span with the exception's class and SQLSTATE, never its text."""
    span = getattr(context.execution_context, "_otel_span", None)
    if span is None:
        return
    if span.is_recording():
        error = context.original_exception
        kind = type(error).__name__
        sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        span.set_attribute("error.type", kind)
        if isinstance(sqlstate, str):
            span.set_attribute("db.response.status_code", sqlstate)
            kind = f"{kind} (SQLSTATE {sqlstate})"
        span.set_status(Status(StatusCode.ERROR, kind))
    span.end()


def otlp_exporter(endpoint: str) -> SpanExporter:
    """The OTLP http/protobuf exporter to a collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`:
    spans go to its `/v1/traces`; headers, timeout and TLS from the usual `OTEL_EXPORTER_OTLP_*`
    variables)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


def setup_tracing(
    settings: BaseServiceSettings, *, exporter: SpanExporter | None = None
) -> Tracing | None:
    """The app's tracing: spans exported in batches to `OTEL_EXPORTER_OTLP_ENDPOINT`, or each
    as it ends to `exporter` (tests: an in-memory one). None, and no cost, with neither."""
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    elif settings.otel_exporter_otlp_endpoint:
        processor = BatchSpanProcessor(otlp_exporter(settings.otel_exporter_otlp_endpoint))
    else:
        return None
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or settings.service_name})
    provider = TracerProvider(resource=resource, sampler=EntrySampler(settings.trace_sample_ratio))
    provider.add_span_processor(processor)
    return Tracing(provider)


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def telemetry_config(settings: BaseServiceSettings, tracing: Tracing | None) -> TelemetryConfig:
    """FastAPI's native telemetry: server spans to the app's provider when it traces; spans,
    metrics and logs to the process's providers with `OTEL_ENABLED`; otherwise off (FastAPI
    then does no per-request telemetry work)."""
    otel = settings.otel_enabled
    config: TelemetryConfig = {"tracing": otel, "metrics": otel, "logs": otel}
    if tracing is not None:
        # The provider is ours, exporter included: FastAPI must not add another.
        config["tracing"] = True
        config["tracer_provider"] = tracing.provider
        config["auto_configure"] = False
        config["exclude"] = _untraced
    return config


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, if any (stored with an event, so that its
    consumers continue the trace, and follow its sampling decision)."""
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    """The current sampled trace's id, 32 hex digits (for the log lines)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid and context.trace_flags.sampled:
        return format_trace_id(context.trace_id)
    return None


def _remote(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    context = _W3C.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def event_span(
    tracer: Tracer | None,
    name: str,
    traceparents: Sequence[str | None],
    attributes: Attributes = None,
) -> AbstractContextManager[object]:
    """The consumer's span around handling events: a child of the first event's producer
    span, linked to every event's; a no-op without a tracer."""
    if tracer is None:
        return nullcontext()
    return _event_span(tracer, name, [_remote(t) for t in traceparents], attributes)


@contextmanager
def _event_span(
    tracer: Tracer, name: str, producers: Sequence[Context | None], attributes: Attributes
) -> Iterator[object]:
    parents = [p for p in producers if p is not None]
    # One event: its producer is the parent. Several: each producer a link too.
    links = [Link(trace.get_current_span(p).get_span_context()) for p in parents]
    links = links if len(links) > 1 else []
    with tracer.start_as_current_span(
        name,
        # Not the current context: a consumer's loop has none worth continuing.
        context=parents[0] if parents else Context(),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ) as span:
        yield span


def tracer_of(state: Any) -> Tracer | None:
    """The app's tracer, or None when it does not trace."""
    tracing: Tracing | None = getattr(state, "tracing", None)
    return tracing.tracer if tracing is not None else None


def traced_transport(state: Any, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """`transport` with client spans when the app traces; as it is otherwise."""
    tracing: Tracing | None = getattr(state, "tracing", None)
    return transport if tracing is None else tracing.transport(transport)
