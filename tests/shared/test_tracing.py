"""shared.tracing: off at no cost; on, one trace through requests, calls, SQL, Redis, events
and log lines."""

import io
import json
import logging
import types
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import shared.tracing
from shared.app import create_app
from shared.clock import utcnow
from shared.contracts import EventPayload
from shared.db import Database, SessionDep
from shared.events import Event, EventConsumer, OutboxRelay, publish, stream_for
from shared.http import AiohttpTransport, service_client
from shared.logging import configure_logging
from shared.redis import Keys
from shared.settings import BaseServiceSettings
from shared.tracing import (
    EntrySampler,
    Tracing,
    current_traceparent,
    setup_tracing,
    telemetry_config,
)
from tests.helpers.tracing import TRACED, capture_spans, flushed, service_of, trace_id_of
from tests.shared import evschema
from tests.shared.conftest import serve
from tests.shared.evschema import outbox, processed

log = logging.getLogger("tests.tracing")


# --- Off --------------------------------------------------------------------------------------


def test_off_unless_a_collector_is_given() -> None:
    settings = BaseServiceSettings(service_name="seat")
    assert setup_tracing(settings) is None
    assert telemetry_config(settings, None) == {"tracing": False, "metrics": False, "logs": False}
    app = create_app(settings=settings, title="t", uses_database=False)
    assert app.state.tracing is None
    assert current_traceparent() is None


def test_an_untraced_app_calls_over_its_plain_transport() -> None:
    state = create_app(settings=BaseServiceSettings(), title="t", uses_database=False).state
    state.settings = BaseServiceSettings()
    state.service_identity = None
    assert type(service_client(state, "booking").transport) is AiohttpTransport


def test_an_untraced_event_carries_no_trace_field() -> None:
    event = Event(id=uuid.uuid4(), type="x.y", source="s", occurred_at=utcnow())
    assert "traceparent" not in event.to_fields()
    assert Event.from_fields(event.to_fields()).traceparent is None


# --- On: the provider -------------------------------------------------------------------------


def test_a_collector_url_means_otlp_to_its_traces_path() -> None:
    exporter = shared.tracing.otlp_exporter("http://collector.test:4318/")
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector.test:4318/v1/traces"


def test_the_service_name_is_the_services_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    capture_spans(monkeypatch)
    default = setup_tracing(BaseServiceSettings(service_name="seat", **TRACED))
    assert default is not None
    assert default.provider.resource.attributes["service.name"] == "seat"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "seat-eu")
    renamed = setup_tracing(BaseServiceSettings(service_name="seat", **TRACED))
    assert renamed is not None
    assert renamed.provider.resource.attributes["service.name"] == "seat-eu"


def test_traced_apps_give_fastapi_their_own_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    capture_spans(monkeypatch)
    settings = BaseServiceSettings(**TRACED)
    tracing = setup_tracing(settings)
    assert tracing is not None
    config = telemetry_config(settings, tracing)
    assert config["tracing"] is True
    assert config["tracer_provider"] is tracing.provider
    assert config["auto_configure"] is False
    assert config["metrics"] is False  # FastAPI's metrics and logs stay with OTEL_ENABLED


def test_traces_start_at_requests_and_events_not_at_a_lone_client_call() -> None:
    sampler = EntrySampler(1.0)
    trace_id = 0x1234
    assert sampler.should_sample(None, trace_id, "SELECT", SpanKind.CLIENT).decision is (
        Decision.DROP
    )
    for kind in (SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.INTERNAL):
        assert sampler.should_sample(None, trace_id, "x", kind).decision is (
            Decision.RECORD_AND_SAMPLE
        )
    parent = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(trace_id, 0x42, is_remote=True, trace_flags=trace.TraceFlags(1))
        )
    )
    # A continued trace follows its caller, whatever the ratio for new ones.
    never = EntrySampler(0.0)
    assert never.should_sample(parent, trace_id, "SELECT", SpanKind.CLIENT).decision.is_sampled()
    assert not never.should_sample(None, trace_id, "GET", SpanKind.SERVER).decision.is_sampled()


# --- On: an app's request ---------------------------------------------------------------------


def probe_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/probe")
    async def probe(request: Request, session: SessionDep) -> dict[str, Any]:
        state = request.app.state
        await session.execute(text("SELECT 1"))
        await state.redis.get(state.keys.key("tracing-probe"))
        client = service_client(state, "booking")
        try:
            answer = await client.get("/internal/echo")
        finally:
            await client.aclose()
        log.warning("probe done")
        return {"traceparent": answer.json()["traceparent"]}

    return router


async def echo_traceparent(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"traceparent": request.headers.get("traceparent")})


@pytest.fixture
async def traced_app(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = capture_spans(monkeypatch)
    settings = BaseServiceSettings(service_name="probe", log_json=True, **TRACED)
    app = create_app(settings=settings, title="probe", routers=[probe_routes()])
    app.state.transports = {"booking": httpx.MockTransport(echo_traceparent)}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        async with serve(app) as client:
            yield app, client, exporter
    finally:
        root.handlers[:], root.level = handlers, level


def by_name(spans: Any) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


async def test_a_request_is_one_trace_of_server_sql_redis_and_client_spans(
    traced_app: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    app, client, exporter = traced_app
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = await client.get("/probe", headers={"traceparent": caller})
    assert r.status_code == 200, r.text
    spans = await flushed(exporter, app)
    mine = [s for s in spans if s.context.trace_id == trace_id_of(caller)]
    server = by_name(mine)["GET /probe"]
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None and server.parent.span_id == 0xB7AD6B7169203331
    kinds = {s.kind for s in mine}
    assert {SpanKind.SERVER, SpanKind.CLIENT} <= kinds
    names = {s.name for s in mine}
    assert any(n.startswith("SELECT") for n in names), names  # SQLAlchemy
    assert "GET" in names  # the Redis command (its arguments never recorded)
    assert {service_of(s) for s in mine} == {"probe"}
    # The call to the other service carried the trace on.
    sent = r.json()["traceparent"]
    assert trace_id_of(sent) == trace_id_of(caller)
    # (The httpx instrumentation speaks the older HTTP conventions unless
    # OTEL_SEMCONV_STABILITY_OPT_IN=http.)
    [call] = [s for s in mine if s.kind is SpanKind.CLIENT and "http.method" in s.attributes]
    assert sent.split("-")[2] == format(call.context.span_id, "016x")


async def test_probes_and_scrapes_are_not_traced(
    traced_app: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    app, client, exporter = traced_app
    exporter.clear()
    for path in ("/health", "/ready", "/metrics"):
        assert (await client.get(path)).status_code == 200
    assert not [s for s in await flushed(exporter, app) if s.kind is SpanKind.SERVER]


async def test_log_lines_carry_the_trace_id(
    traced_app: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    _app, client, _exporter = traced_app
    # The app's handler (`configure_logging`), not pytest's.
    [handler] = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    out = io.StringIO()
    handler.setStream(out)
    caller = "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert (await client.get("/probe", headers={"traceparent": caller})).status_code == 200
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    [line] = [x for x in lines if x["msg"] == "probe done"]
    assert line["trace_id"] == caller.split("-")[1]


def test_the_text_format_names_the_trace_only_while_a_span_is_current(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    tracing = setup_tracing(BaseServiceSettings(), exporter=InMemorySpanExporter())
    assert tracing is not None
    try:
        configure_logging(service="t", level="INFO", trace_ids=True)
        log.warning("outside")
        with tracing.tracer.start_as_current_span("work") as span:
            log.warning("inside")
        out = capsys.readouterr().out.splitlines()
    finally:
        root.handlers[:], root.level = handlers, level
    [outside] = [x for x in out if "outside" in x]
    [inside] = [x for x in out if "inside" in x]
    assert "trace_id" not in outside
    assert f"trace_id={span.get_span_context().trace_id:032x}" in inside


# --- On: events -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def db(settings: BaseServiceSettings) -> AsyncIterator[Database]:
    database = Database(settings.database_url, pool_size=3, max_overflow=3)
    await evschema.create(database.engine)
    yield database
    await evschema.drop(database.engine)
    await database.dispose()


def probe(event_type: str) -> EventPayload:
    """A test's event (not registered: the contracts' registry stays the services' own)."""
    contract = types.new_class("Probe", (EventPayload,), {"type": event_type, "register": False})
    return contract()


async def test_an_event_continues_its_producers_trace(
    db: Database, redis: Redis, keys: Keys
) -> None:
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(BaseServiceSettings(), exporter=exporter)
    assert tracing is not None
    event_type = f"t{uuid.uuid4().hex[:8]}.happened"
    with tracing.tracer.start_as_current_span("POST /x", kind=SpanKind.SERVER) as request:
        async with db.sessionmaker() as session, session.begin():
            event_id = await publish(session, outbox, probe(event_type))
    async with db.sessionmaker() as session:
        stored = await session.scalar(
            select(outbox.c.traceparent).where(outbox.c.event_id == event_id)
        )
    context = request.get_span_context()
    assert stored is not None
    assert stored.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")

    relay = OutboxRelay(engine=db.engine, redis=redis, keys=keys, outbox=outbox, source="evtest")
    assert await relay.relay_once() >= 1
    stream = stream_for(keys, event_type)
    [(message_id, fields)] = await redis.xrange(stream)
    assert fields["traceparent"] == stored

    handled: list[str | None] = []

    async def handler(event: Event, session: Any) -> None:
        handled.append(current_traceparent())

    consumer = _consumer(db, redis, keys, tracing, {event_type: handler})
    await consumer.handle(stream, message_id, fields)
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert span.name == f"process {event_type}"
    assert span.context.trace_id == context.trace_id
    assert span.parent is not None and span.parent.span_id == context.span_id
    assert span.attributes["messaging.message.id"] == str(event_id)
    # The handler runs inside it: what it publishes in turn continues the same trace.
    assert handled and trace_id_of(handled[0] or "") == context.trace_id


async def test_a_batch_of_events_links_every_producer(
    db: Database, redis: Redis, keys: Keys
) -> None:
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(BaseServiceSettings(), exporter=exporter)
    assert tracing is not None
    event_type = f"t{uuid.uuid4().hex[:8]}.batched"
    producers = []
    for _ in range(2):
        with tracing.tracer.start_as_current_span("POST /x", kind=SpanKind.SERVER) as request:
            async with db.sessionmaker() as session, session.begin():
                await publish(session, outbox, probe(event_type))
        producers.append(request.get_span_context())
    relay = OutboxRelay(engine=db.engine, redis=redis, keys=keys, outbox=outbox, source="evtest")
    await relay.relay_once()

    async def batch(events: Any, session: Any) -> None:
        return None

    consumer = _consumer(db, redis, keys, tracing, {}, batch_handlers={event_type: batch})
    await consumer.ensure_groups()
    assert await consumer.read_once(block_ms=100) == 2
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert span.attributes["messaging.batch.message_count"] == 2
    assert span.context.trace_id == producers[0].trace_id
    assert {link.context.span_id for link in span.links} == {p.span_id for p in producers}


def _consumer(
    db: Database, redis: Redis, keys: Keys, tracing: Tracing, handlers: Any, **kw: Any
) -> EventConsumer:
    return EventConsumer(
        sessionmaker=db.sessionmaker,
        redis=redis,
        keys=keys,
        processed=processed,
        group=f"g{uuid.uuid4().hex[:8]}",
        handlers=handlers,
        block_ms=20,
        tracer=tracing.tracer,
        **kw,
    )


async def test_a_failed_statements_span_names_the_error_not_the_rows_values(
    settings: BaseServiceSettings, redis: Redis
) -> None:
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(BaseServiceSettings(), exporter=exporter)
    assert tracing is not None
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    tracing.instrument(engine=database.engine, redis=redis)
    secret = f"alice-{uuid.uuid4().hex[:8]}@x.com"
    try:
        with tracing.tracer.start_as_current_span("POST /x", kind=SpanKind.SERVER):
            async with database.engine.connect() as conn:
                await conn.execute(text("CREATE TEMP TABLE people (email text UNIQUE)"))
                insert = text("INSERT INTO people (email) VALUES (:email)")
                await conn.execute(insert, {"email": secret})
                with pytest.raises(IntegrityError):
                    await conn.execute(insert, {"email": secret})
    finally:
        await database.dispose()
    [failed] = [s for s in exporter.get_finished_spans() if not s.status.is_ok]
    assert failed.name.startswith("INSERT")
    assert failed.status.description == "UniqueViolationError (SQLSTATE 23505)"
    assert failed.attributes["db.response.status_code"] == "23505"
    recorded = json.dumps([failed.status.description, dict(failed.attributes or {})], default=str)
    recorded += json.dumps([dict(e.attributes or {}) for e in failed.events], default=str)
    assert secret not in recorded and "alice" not in recorded
