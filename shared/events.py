"""Domain events: a transactional outbox, a relay to Redis Streams, and consumer groups.

Producer: `await publish(session, outbox, BookingConfirmed(...))` (a `shared.contracts` model,
which names the event's type and version) inside the same transaction as the state change, so
an event exists if and only if the change committed. A consumer reads it back with the same
model (`BookingConfirmed.of(event)`).
`OutboxRelay` moves unsent rows to the stream `<prefix>{events}:<domain>` (the part of the type
before the first dot) and marks them sent. Delivery is at least once. The relay does not poll
for work: `publish` also sends a Postgres NOTIFY (delivered when the transaction commits, to
every process of the service) and the relay LISTENs on a connection of its own; it polls only
as a fallback, rarely while it listens and often while it cannot.

Consumer: `EventConsumer` reads with a consumer group, runs the handler and records the event
id in the consumer's `processed_events` table in one transaction, then acknowledges. A
redelivered event finds its id recorded and does no work twice. Entries left pending by a
crashed consumer are reclaimed with XAUTOCLAIM; after `max_deliveries` attempts an entry goes
to the dead-letter stream `<prefix>{events}:dead` and is acknowledged.

The producer's request id and trace context (`traceparent`, see `shared.tracing`) travel with
the event, in the outbox row and the stream entry: the handler's log lines carry the request
id, and its span continues the producer's trace.
"""

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import asyncpg
from opentelemetry.trace import Tracer
from opentelemetry.util.types import AttributeValue
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Uuid,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import CTE

from shared.background import Alarm, stop_if_cancelled
from shared.contracts.events import EventPayload
from shared.db import AUTOCOMMIT
from shared.logging import request_id_var
from shared.metrics import EVENTS_HANDLED, EVENTS_PUBLISHED
from shared.redis import Keys, RedisClient
from shared.tracing import current_traceparent, event_span, tracer_of

log = logging.getLogger("shared.events")


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("version", SmallInteger, nullable=False, server_default="1"),
        Column("payload", JSONB, nullable=False),
        Column("request_id", String(128)),
        # The producer's W3C trace context: its consumers' spans continue that trace.
        Column("traceparent", String(55)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("type", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    source: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    version: int = 1
    traceparent: str | None = None

    def to_fields(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "type": self.type,
            "version": str(self.version),
            "source": self.source,
            "occurred_at": self.occurred_at.isoformat(),
            "payload": json.dumps(self.payload),
            "request_id": self.request_id or "",
            # Only when traced: a stream entry carries no empty field for it.
            **({"traceparent": self.traceparent} if self.traceparent else {}),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> "Event":
        return cls(
            id=uuid.UUID(fields["id"]),
            type=fields["type"],
            source=fields["source"],
            occurred_at=datetime.fromisoformat(fields["occurred_at"]),
            payload=json.loads(fields["payload"]),
            request_id=fields.get("request_id") or None,
            version=int(fields.get("version") or 1),
            traceparent=fields.get("traceparent") or None,
        )


# Every stream carries the hash tag `{events}`: on Redis Cluster they all live in one slot,
# because a consumer reads all its streams in one XREADGROUP (a multi-key command, refused
# across slots) and so keeps one blocking read per consumer. The price: all event traffic is on
# one shard. Events are few next to holds and searches; past one shard's capacity, a tag per
# stream and a read per stream would spread them.
EVENTS_TAG = "{events}"


def stream_for(keys: Keys, event_type: str) -> str:
    return keys.key(EVENTS_TAG, event_type.split(".", 1)[0])


def dead_letter_stream(keys: Keys) -> str:
    return keys.key(EVENTS_TAG, "dead")


async def move_legacy_streams(redis: RedisClient, keys: Keys, *, batch: int = 500) -> int:
    """Move what the streams' old names (`<prefix>events:<domain>`, before the `{events}` tag)
    still hold to the new ones; the number of entries moved.

    The upgrade step once every process runs the new names: events an old relay wrote after
    the consumers moved on, or that an old consumer had not handled, are added again to their
    stream and handled there; an event already handled is skipped by its consumer's
    `processed_events`. Each old stream is deleted once copied; running it again is harmless."""
    moved = 0
    old_prefix = keys.key("events", "")
    async for name in redis.scan_iter(match=f"{old_prefix}*", _type="stream"):
        domain = str(name)[len(old_prefix) :]
        target = keys.key(EVENTS_TAG, domain)
        start = "-"
        while entries := await redis.xrange(name, min=start, count=batch):
            for _, fields in entries:
                await redis.xadd(target, fields)  # type: ignore[arg-type]  # dict[str, str]
            moved += len(entries)
            start = "(" + cast(str, entries[-1][0])  # exclusive: after the last one copied
        await redis.delete(name)
    return moved


def outbox_channel(outbox: Table) -> str:
    """The Postgres NOTIFY channel that tells an outbox's relay there is work."""
    return f"{outbox.schema or 'public'}_outbox"


async def publish(session: AsyncSession, outbox: Table, event: EventPayload) -> uuid.UUID:
    """Record an event in the outbox, in the caller's transaction, and notify the relay (on
    commit)."""
    [event_id] = await publish_many(session, outbox, [event])
    return event_id


async def publish_many(
    session: AsyncSession, outbox: Table, events: Sequence[EventPayload]
) -> list[uuid.UUID]:
    """Record several events at once, in the caller's transaction. One
    statement: the insert is a CTE whose rows fire the relay's `pg_notify` (sent at commit;
    Postgres folds identical notifications of one transaction into one)."""
    if not events:
        return []
    request_id = request_id_var.get()
    traceparent = current_traceparent()
    event_ids = [uuid.uuid4() for _ in events]
    rows = [
        {
            "event_id": event_id,
            "type": e.type,
            "version": e.version,
            "payload": e.payload(),
            "request_id": request_id,
            "traceparent": traceparent,
        }
        for event_id, e in zip(event_ids, events, strict=True)
    ]
    notify = select(func.pg_notify(outbox_channel(outbox), ""))
    if len(rows) == 1:
        inserted = insert(outbox).values(rows[0]).returning(outbox.c.id).cte("published")
        await session.execute(notify.select_from(inserted))
    else:
        # Several: one executemany insert, then the notification. (A multi-row VALUES would be
        # compiled anew each time: SQLAlchemy caches neither it nor a CTE built on it.)
        await session.execute(insert(outbox), rows)
        await session.execute(notify)
    return event_ids


def published(outbox: Table, source: CTE) -> ColumnElement[Any]:
    """For a statement that is a step of its own (see `shared.db.autocommit`): a column that
    records an event in `outbox` once per row of `source` (a data-modifying CTE, e.g. a guarded
    UPDATE ... RETURNING) and wakes the relay, so the event exists if and only if the step
    matched. The event comes from the parameters `event_params` makes."""
    rows = select(
        bindparam("event_id", type_=Uuid),
        bindparam("event_type", type_=String),
        bindparam("event_version", type_=SmallInteger),
        bindparam("event_payload", type_=JSONB),
        bindparam("event_request_id", type_=String),
        bindparam("event_traceparent", type_=String),
    ).select_from(source)
    inserted = (
        insert(outbox)
        .from_select(["event_id", "type", "version", "payload", "request_id", "traceparent"], rows)
        .returning(outbox.c.id)
        .cte("published")
    )
    notify = select(func.pg_notify(outbox_channel(outbox), "")).select_from(inserted)
    return notify.scalar_subquery().label("notified")


def event_params(event: EventPayload) -> dict[str, Any]:
    """The parameters of `published` for one event."""
    return {
        "event_id": uuid.uuid4(),
        "event_type": event.type,
        "event_version": event.version,
        "event_payload": event.payload(),
        "event_request_id": request_id_var.get(),
        "event_traceparent": current_traceparent(),
    }


class OutboxRelay:
    """Moves committed outbox rows to Redis Streams. Safe to run in several processes."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        redis: RedisClient,
        keys: Keys,
        outbox: Table,
        source: str,
        poll_seconds: float = 0.5,
        listen_dsn: str | None = None,
        listening_poll_seconds: float = 30.0,
        batch_size: int = 200,
        stream_maxlen: int = 100_000,
    ) -> None:
        self.engine = engine
        self._reads = engine.execution_options(**AUTOCOMMIT)
        self.redis = redis
        self.keys = keys
        self.outbox = outbox
        self.source = source
        self.poll_seconds = poll_seconds
        self.listen_dsn = listen_dsn
        self.listening_poll_seconds = listening_poll_seconds
        self.batch_size = batch_size
        self.stream_maxlen = stream_maxlen
        self.listening = False
        self._alarm = Alarm()
        ob = outbox
        unsent = ob.c.published_at.is_(None)
        self._pending = select(exists().where(unsent))
        batch = (
            select(ob.c.id)
            .where(unsent)
            .order_by(ob.c.id)
            .limit(bindparam("n"))
            .with_for_update(skip_locked=True)
            .cte("batch")
        )
        self._claim = (
            update(ob)
            .where(ob.c.id == batch.c.id)
            .values(published_at=func.now())
            .returning(
                ob.c.id,
                ob.c.event_id,
                ob.c.type,
                ob.c.version,
                ob.c.payload,
                ob.c.request_id,
                ob.c.traceparent,
                ob.c.created_at,
            )
        )

    def wake(self) -> None:
        """Relay now rather than at the next poll (call after committing events)."""
        self._alarm.wake()

    async def relay_once(self) -> int:
        """Relay one batch: claim and mark its rows (one statement; rows another process is
        relaying are skipped), add the events to their streams, then commit. A failure before
        the commit leaves the rows to be relayed again: at least once, in id order."""
        async with self._reads.connect() as conn:
            # Most runs find nothing (a commit wakes every process's relay): one cheap read.
            if not await conn.scalar(self._pending):
                return 0
        async with self.engine.begin() as conn:
            rows = sorted((await conn.execute(self._claim, {"n": self.batch_size})).all())
            if rows:
                await self._add_to_streams(rows)
        for row in rows:
            EVENTS_PUBLISHED.labels(self.source, row.type).inc()
        return len(rows)

    async def _add_to_streams(self, rows: Sequence[Any]) -> None:
        # One round trip, no transaction (a run of XADDs may be repeated anyway: at least
        # once); on a cluster redis-py sends each command to its slot's node.
        async with self.redis.pipeline(transaction=False) as pipe:
            for row in rows:
                event = Event(
                    id=row.event_id,
                    type=row.type,
                    source=self.source,
                    occurred_at=row.created_at,
                    payload=row.payload,
                    request_id=row.request_id,
                    version=row.version,
                    traceparent=row.traceparent,
                )
                pipe.xadd(
                    stream_for(self.keys, row.type),
                    # redis-py wants an (invariant) dict[FieldT, EncodableT]: dict[str, str] is one
                    event.to_fields(),  # type: ignore[arg-type]
                    maxlen=self.stream_maxlen,
                    approximate=True,
                )
            await pipe.execute()

    async def run(self) -> None:
        listener = asyncio.ensure_future(self._listen()) if self.listen_dsn else None
        try:
            while True:
                stop_if_cancelled()
                try:
                    sent = await self.relay_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    sent = 0
                    await asyncio.sleep(self.poll_seconds)
                if sent < self.batch_size:
                    idle = self.listening_poll_seconds if self.listening else self.poll_seconds
                    await self._alarm.sleep(idle)
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def _listen(self) -> None:
        """Keep a LISTEN connection open (reconnecting after a failure); each NOTIFY wakes
        the relay. While it is down the relay polls every `poll_seconds`."""
        while True:
            stop_if_cancelled()
            try:
                await self._listen_once()
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("outbox relay cannot LISTEN (%s); polling", type(exc).__name__)
            finally:
                self.listening = False
            await asyncio.sleep(2.0)

    async def _listen_once(self) -> None:
        """One LISTEN connection, until Postgres closes it."""
        conn = await asyncpg.connect(self.listen_dsn, timeout=10)
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _conn: closed.set())
        try:
            await conn.add_listener(outbox_channel(self.outbox), lambda *_: self._alarm.wake())
            self.listening = True
            self._alarm.wake()  # anything committed before we listened
            await closed.wait()
            log.warning("outbox relay lost its LISTEN connection; reconnecting")
        finally:
            conn.terminate()


Handler = Callable[[Event, AsyncSession], Awaitable[None]]
BatchHandler = Callable[[Sequence[Event], AsyncSession], Awaitable[None]]
Entry = tuple[str, Mapping[str, str]]  # a stream entry: (message id, fields)


def _one_of(batch: BatchHandler) -> Handler:
    """A batch handler as a handler of one event."""

    async def handler(event: Event, session: AsyncSession) -> None:
        await batch([event], session)

    return handler


def _entry_runs(entries: Sequence[Entry], batched: Mapping[str, BatchHandler]) -> list[list[Entry]]:
    """Consecutive entries of one type that has a batch handler together; others alone."""
    runs: list[list[Entry]] = []
    for entry in entries:
        kind = entry[1].get("type")
        if kind in batched and runs and runs[-1][0][1].get("type") == kind:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


class EventConsumer:
    """Consumes event types with one consumer group per consuming service."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: RedisClient,
        keys: Keys,
        processed: Table,
        group: str,
        handlers: Mapping[str, Handler],
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        consumer_name: str | None = None,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        batch_size: int = 50,
        tracer: Tracer | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.keys = keys
        self.processed = processed
        self.group = group
        # A type with a batch handler gets each run of its events in a read at once (one
        # statement for many, say); `handlers` take one event at a time.
        self.batch_handlers = dict(batch_handlers or {})
        self.handlers = {
            **{t: _one_of(h) for t, h in self.batch_handlers.items()},
            **dict(handlers),
        }
        self.name = consumer_name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        self.max_deliveries = max_deliveries
        self.batch_size = batch_size
        self.streams = sorted({stream_for(keys, t) for t in self.handlers})
        # With a tracer, handling continues the producer's trace (`shared.tracing`).
        self.tracer = tracer

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def handle(self, stream: str, message_id: str, fields: Mapping[str, str]) -> None:
        """Handle one entry exactly once (per consumer group), then acknowledge it."""
        try:
            event = Event.from_fields(fields)
        except (KeyError, ValueError) as exc:
            log.error("unreadable event %s on %s: %s", message_id, stream, exc)
            await self._dead_letter(stream, message_id, fields, reason="unreadable")
            return
        handler = self.handlers.get(event.type)
        if handler is not None:
            with self._span(stream, [event]):
                first_time = await self._handle_once(event, handler)
            EVENTS_HANDLED.labels(
                self.group, event.type, "handled" if first_time else "duplicate"
            ).inc()
        await self.ack(stream, message_id)

    async def _handle_once(self, event: Event, handler: Handler) -> bool:
        """Record the event as processed and run its handler, in one transaction; False (and
        nothing run) if it was processed before."""
        async with self.sessionmaker() as session, session.begin():
            first_time = (
                await session.execute(
                    pg_insert(self.processed)
                    .values(consumer=self.group, event_id=event.id, type=event.type)
                    .on_conflict_do_nothing()
                    .returning(self.processed.c.event_id)
                )
            ).first() is not None
            if first_time:
                token = request_id_var.set(event.request_id)
                try:
                    await handler(event, session)
                finally:
                    request_id_var.reset(token)
        return first_time

    def _span(self, stream: str, events: Sequence[Event]) -> AbstractContextManager[object]:
        """The span of handling `events` (one type), continuing the first one's trace; none
        when the app does not trace."""
        if self.tracer is None:
            return nullcontext()
        attributes: dict[str, AttributeValue] = {
            "messaging.system": "redis",
            "messaging.operation.type": "process",
            "messaging.destination.name": stream,
            "messaging.consumer.group.name": self.group,
            "messaging.batch.message_count": len(events),
            "messaging.message.id": str(events[0].id),
            "flightbook.event.type": events[0].type,
            "flightbook.event.source": events[0].source,
        }
        traceparents = [e.traceparent for e in events]
        return event_span(self.tracer, f"process {events[0].type}", traceparents, attributes)

    async def ack(self, stream: str, *message_ids: str) -> None:
        await self.redis.xack(stream, self.group, *message_ids)

    async def read_once(self, block_ms: int | None = None) -> int:
        """Read and handle new entries; a failing handler leaves its entry pending."""
        # RESP2 with decoded responses (shared.redis): [[stream, [(id, fields), ...]], ...]
        response = cast(
            list[tuple[str, list[Entry]]] | None,
            await self.redis.xreadgroup(
                self.group,
                self.name,
                {s: ">" for s in self.streams},
                count=self.batch_size,
                block=self.block_ms if block_ms is None else block_ms,
            ),
        )
        handled = 0
        for stream, entries in response or []:
            handled += await self._handle_read(stream, entries)
        return handled

    async def _handle_read(self, stream: str, entries: Sequence[Entry]) -> int:
        """Each entry in a transaction of its own, except runs of a type with a batch handler:
        those in one transaction and one XACK. (Several events' handlers in one transaction
        would take their locks in an order no other transaction agrees with: deadlocks.)"""
        handled = 0
        for run in _entry_runs(entries, self.batch_handlers):
            if len(run) > 1:
                try:
                    await self._handle_together(stream, run)
                    handled += len(run)
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("%d events together failed (%s); one by one", len(run), exc)
            for message_id, fields in run:
                handled += await self._try_handle(stream, message_id, fields)
        return handled

    async def _handle_together(self, stream: str, entries: Sequence[Entry]) -> None:
        """A run of one type's events, each exactly once, to its batch handler in one
        transaction; then one XACK for all. An unreadable entry fails the run."""
        events: dict[uuid.UUID, Event] = {}
        for _, fields in entries:
            event = Event.from_fields(fields)
            events.setdefault(event.id, event)  # the same event twice: once
        with self._span(stream, list(events.values())):
            fresh = await self._handle_run(list(events.values()))
        await self.ack(stream, *(message_id for message_id, _ in entries))
        for event in events.values():
            outcome = "handled" if event.id in fresh else "duplicate"
            EVENTS_HANDLED.labels(self.group, event.type, outcome).inc()

    async def _handle_run(self, events: Sequence[Event]) -> set[uuid.UUID]:
        """Record the events as processed and run the batch handler on those that were not
        before, in one transaction; their ids."""
        async with self.sessionmaker() as session, session.begin():
            fresh = set(
                await session.scalars(
                    pg_insert(self.processed)
                    .values(
                        [{"consumer": self.group, "event_id": e.id, "type": e.type} for e in events]
                    )
                    .on_conflict_do_nothing()
                    .returning(self.processed.c.event_id)
                )
            )
            run = [e for e in events if e.id in fresh]
            if run:
                token = request_id_var.set(run[0].request_id)
                try:
                    await self.batch_handlers[run[0].type](run, session)
                finally:
                    request_id_var.reset(token)
        return fresh

    async def reclaim_once(self) -> int:
        """Take over entries another (crashed) consumer left pending too long."""
        handled = 0
        for stream in self.streams:
            start = "0-0"
            while True:
                # Redis 7 adds the ids of deleted entries; 6.2 (the embedded one) does not.
                start, entries, *_deleted = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.name,
                    min_idle_time=self.reclaim_idle_ms,
                    start_id=start,
                    count=self.batch_size,
                )
                for message_id, fields in entries:
                    if fields is None:  # trimmed away meanwhile
                        await self.ack(stream, message_id)
                        continue
                    if await self._deliveries(stream, message_id) > self.max_deliveries:
                        await self._dead_letter(
                            stream, message_id, fields, reason="too many deliveries"
                        )
                        continue
                    handled += await self._try_handle(stream, message_id, fields)
                if start in ("0-0", b"0-0"):
                    break
        return handled

    async def _try_handle(self, stream: str, message_id: str, fields: Mapping[str, str]) -> int:
        try:
            await self.handle(stream, message_id, fields)
            return 1
        except asyncio.CancelledError:
            raise
        except Exception:
            EVENTS_HANDLED.labels(self.group, fields.get("type", "?"), "failed").inc()
            log.exception("handler failed for %s on %s; it will be retried", message_id, stream)
            return 0

    async def _deliveries(self, stream: str, message_id: str) -> int:
        pending = await self.redis.xpending_range(
            stream, self.group, min=message_id, max=message_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 0

    async def _dead_letter(
        self, stream: str, message_id: str, fields: Mapping[str, str], *, reason: str
    ) -> None:
        await self.redis.xadd(
            dead_letter_stream(self.keys),
            {
                # redis-py wants an (invariant) dict[FieldT, EncodableT]: dict[str, str] is one
                **fields,  # type: ignore[dict-item]
                "stream": stream,
                "message_id": message_id,
                "group": self.group,
                "reason": reason,
            },
        )
        await self.ack(stream, message_id)
        log.error("event %s from %s dead-lettered: %s", message_id, stream, reason)

    async def run(self) -> None:
        reclaim_every = max(1.0, self.reclaim_idle_ms / 2000)
        loop = asyncio.get_running_loop()
        next_reclaim = loop.time()
        groups_ready = False
        while True:
            stop_if_cancelled()
            try:
                if not groups_ready:
                    # Inside the loop: Redis may be down at start-up, and a restarted Redis
                    # may have lost the groups (every read would then fail with NOGROUP).
                    await self.ensure_groups()
                    groups_ready = True
                if loop.time() >= next_reclaim:
                    await self.reclaim_once()
                    next_reclaim = loop.time() + reclaim_every
                await self.read_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.exception("event consumer %s lost Redis; retrying", self.group)
                groups_ready = False
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("event consumer %s failed; retrying", self.group)
                await asyncio.sleep(1.0)


def relay_for(state: Any, outbox: Table) -> OutboxRelay:
    """The outbox relay of an app, configured from its settings (`app.state`)."""
    settings = state.settings
    return OutboxRelay(
        engine=state.db.engine,
        redis=state.redis,
        keys=state.keys,
        outbox=outbox,
        source=settings.service_name,
        poll_seconds=settings.outbox_poll_seconds,
        listen_dsn=(
            state.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            if settings.outbox_listen
            else None
        ),
        listening_poll_seconds=settings.outbox_listening_poll_seconds,
    )


def consumer_for(
    state: Any,
    *,
    processed: Table,
    handlers: Mapping[str, Handler],
    group: str | None = None,
    **options: Any,
) -> EventConsumer:
    """An app's event consumer (group: the service's name), configured from its settings;
    `options` go to `EventConsumer` (batch handlers, a larger read batch)."""
    settings = state.settings
    return EventConsumer(
        sessionmaker=state.db.sessionmaker,
        redis=state.redis,
        keys=state.keys,
        processed=processed,
        group=group or settings.service_name,
        handlers=handlers,
        block_ms=settings.consumer_block_ms,
        reclaim_idle_ms=settings.consumer_reclaim_idle_ms,
        max_deliveries=settings.consumer_max_deliveries,
        tracer=tracer_of(state),
        **options,
    )
