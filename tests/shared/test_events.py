"""shared.events against the real Postgres and Redis: outbox -> relay -> stream -> consumer.

Each test uses its own event domain (so its own stream) and consumer group.
"""

import asyncio
import functools
import json
import os
import sys
import types
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ConfigDict
from redis.asyncio import Redis
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import clock
from shared.background import running
from shared.contracts import EventPayload
from shared.db import Database
from shared.events import (
    Event,
    EventConsumer,
    OutboxRelay,
    dead_letter_stream,
    move_legacy_streams,
    publish,
    stream_for,
)
from shared.logging import request_id_var
from shared.redis import Keys, create_redis
from shared.settings import BaseServiceSettings
from tests.helpers import eventually, free_port
from tests.shared import evschema
from tests.shared.evschema import outbox, processed, work

ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[Event, AsyncSession], Awaitable[None]]


@pytest.fixture(scope="module")
async def db(settings: BaseServiceSettings) -> AsyncIterator[Database]:
    database = Database(settings.database_url, pool_size=5, max_overflow=5)
    await evschema.create(database.engine)
    yield database
    await evschema.drop(database.engine)
    await database.dispose()


@pytest.fixture
def domain() -> str:
    return f"d{uuid.uuid4().hex[:10]}"


@pytest.fixture
def group() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


def relay(db: Database, redis: Redis, keys: Keys) -> OutboxRelay:
    return OutboxRelay(engine=db.engine, redis=redis, keys=keys, outbox=outbox, source="evtest")


def consumer(
    db: Database, redis: Redis, keys: Keys, group: str, handlers: dict[str, Handler], **kw: Any
) -> EventConsumer:
    kw.setdefault("block_ms", 20)
    return EventConsumer(
        sessionmaker=db.sessionmaker,
        redis=redis,
        keys=keys,
        processed=processed,
        group=group,
        handlers=handlers,
        **kw,
    )


def recording_handler(group: str, note: str = "") -> Handler:
    async def handler(event: Event, session: AsyncSession) -> None:
        await session.execute(insert(work).values(consumer=group, event_id=event.id, note=note))

    return handler


class Loose(EventPayload):
    """A test's event: any payload (the services' events each have a contract of their own)."""

    model_config = ConfigDict(extra="allow")


@functools.cache
def loose_contract(event_type: str, version: int) -> type[EventPayload]:
    # Not registered: the registry (`shared.contracts.EVENTS`) stays the services' own.
    kwds = {"type": event_type, "version": version, "register": False}
    return types.new_class("Probe", (Loose,), kwds)


def probe(event_type: str, version: int = 1, **payload: Any) -> EventPayload:
    return loose_contract(event_type, version)(**payload)


async def publish_committed(db: Database, event_type: str, n: int = 1) -> list[uuid.UUID]:
    async with db.sessionmaker() as session, session.begin():
        return [await publish(session, outbox, probe(event_type, n=i)) for i in range(n)]


async def work_rows(db: Database, group: str) -> list[Any]:
    async with db.sessionmaker() as session:
        return (
            await session.execute(select(work).where(work.c.consumer == group).order_by(work.c.id))
        ).all()


async def pending(redis: Redis, stream: str, group: str) -> int:
    return int((await redis.xpending(stream, group))["pending"])


async def test_publish_then_relay_puts_the_event_on_its_stream(
    db: Database, redis: Redis, keys: Keys, domain: str
) -> None:
    token = request_id_var.set("req-outbox-1")
    try:
        async with db.sessionmaker() as session, session.begin():
            event_id = await publish(
                session, outbox, probe(f"{domain}.created", version=3, bookingId=7, ok=True)
            )
    finally:
        request_id_var.reset(token)

    assert await relay(db, redis, keys).relay_once() >= 1

    stream = stream_for(keys, f"{domain}.created")
    assert stream == f"{keys.prefix}{{events}}:{domain}"
    entries = await redis.xrange(stream)
    assert len(entries) == 1
    event = Event.from_fields(entries[0][1])
    assert event.id == event_id
    assert event.type == f"{domain}.created"
    assert event.source == "evtest"
    assert event.payload == {"bookingId": 7, "ok": True}
    assert event.version == 3  # the contract's version, from the outbox row to the stream
    assert event.request_id == "req-outbox-1"
    assert event.occurred_at.tzinfo is not None

    async with db.sessionmaker() as session:
        sent = await session.scalar(
            select(outbox.c.published_at).where(outbox.c.event_id == event_id)
        )
    assert sent is not None
    # Relayed once: a second pass sends nothing again.
    await relay(db, redis, keys).relay_once()
    assert len(await redis.xrange(stream)) == 1


async def test_rolled_back_transaction_publishes_nothing(
    db: Database, redis: Redis, keys: Keys, domain: str
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.sessionmaker() as session, session.begin():
            await publish(session, outbox, probe(f"{domain}.created"))
            raise Boom

    await relay(db, redis, keys).relay_once()
    assert await redis.exists(stream_for(keys, f"{domain}.created")) == 0
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.type == f"{domain}.created")
        )
    assert count == 0


async def test_consumer_handles_each_event_once_and_acks(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    ids = await publish_committed(db, f"{domain}.created", n=3)
    seen: list[Event] = []

    async def handler(event: Event, session: AsyncSession) -> None:
        seen.append(event)
        assert request_id_var.get() == event.request_id
        await recording_handler(group)(event, session)

    c = consumer(db, redis, keys, group, {f"{domain}.created": handler})
    await c.ensure_groups()
    await c.ensure_groups()  # idempotent (BUSYGROUP is fine)
    await relay(db, redis, keys).relay_once()

    assert await c.read_once() == 3
    assert await c.read_once() == 0
    assert await c.reclaim_once() == 0
    assert [e.id for e in seen] == ids
    assert [r.event_id for r in await work_rows(db, group)] == ids
    assert await pending(redis, stream_for(keys, f"{domain}.created"), group) == 0
    async with db.sessionmaker() as session:
        recorded = await session.scalar(
            select(func.count()).select_from(processed).where(processed.c.consumer == group)
        )
    assert recorded == 3


async def test_events_without_a_handler_are_acked_without_work(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    c = consumer(db, redis, keys, group, {f"{domain}.created": recording_handler(group)})
    await c.ensure_groups()
    await publish_committed(db, f"{domain}.other")
    await relay(db, redis, keys).relay_once()

    assert await c.read_once() == 1
    assert await work_rows(db, group) == []
    assert await pending(redis, stream_for(keys, f"{domain}.created"), group) == 0


async def test_failing_handler_leaves_the_entry_pending_and_reclaim_handles_it_once(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    fail = True
    calls = 0

    async def handler(event: Event, session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await session.execute(insert(work).values(consumer=group, event_id=event.id))
        if fail:
            raise RuntimeError("downstream not ready")

    stream = stream_for(keys, f"{domain}.created")
    c = consumer(db, redis, keys, group, {f"{domain}.created": handler}, reclaim_idle_ms=0)
    await c.ensure_groups()
    [event_id] = await publish_committed(db, f"{domain}.created")
    await relay(db, redis, keys).relay_once()

    assert await c.read_once() == 0
    assert calls == 1
    assert await pending(redis, stream, group) == 1
    assert await work_rows(db, group) == []  # the failed attempt's work was rolled back

    fail = False
    assert await c.reclaim_once() == 1
    assert calls == 2
    assert [r.event_id for r in await work_rows(db, group)] == [event_id]
    assert await pending(redis, stream, group) == 0
    assert await c.reclaim_once() == 0
    assert calls == 2


async def test_entry_goes_to_the_dead_letter_stream_after_max_deliveries(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    calls = 0

    async def always_fails(event: Event, session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("poison")

    stream = stream_for(keys, f"{domain}.created")
    c = consumer(
        db,
        redis,
        keys,
        group,
        {f"{domain}.created": always_fails},
        reclaim_idle_ms=0,
        max_deliveries=3,
    )
    await c.ensure_groups()
    [event_id] = await publish_committed(db, f"{domain}.created")
    await relay(db, redis, keys).relay_once()
    [(message_id, _)] = await redis.xrange(stream)

    await c.read_once()  # delivery 1
    for _ in range(2):  # deliveries 2 and 3
        await c.reclaim_once()
        assert await pending(redis, stream, group) == 1
    assert calls == 3
    await c.reclaim_once()  # delivery 4 > max_deliveries: dead-lettered, not handled
    assert calls == 3
    assert await pending(redis, stream, group) == 0

    dead = [f for _, f in await redis.xrange(dead_letter_stream(keys)) if f.get("group") == group]
    assert len(dead) == 1
    assert dead[0]["message_id"] == message_id
    assert dead[0]["stream"] == stream
    assert dead[0]["reason"] == "too many deliveries"
    assert dead[0]["id"] == str(event_id)
    assert await work_rows(db, group) == []


async def test_unreadable_entry_is_dead_lettered(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    stream = stream_for(keys, f"{domain}.created")
    c = consumer(db, redis, keys, group, {f"{domain}.created": recording_handler(group)})
    await c.ensure_groups()
    message_id = await redis.xadd(stream, {"type": f"{domain}.created", "id": "not-a-uuid"})

    assert await c.read_once() == 1
    assert await pending(redis, stream, group) == 0
    dead = [f for _, f in await redis.xrange(dead_letter_stream(keys)) if f.get("group") == group]
    assert [(d["message_id"], d["reason"]) for d in dead] == [(message_id, "unreadable")]


async def test_duplicate_entries_of_one_event_do_the_work_once(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    stream = stream_for(keys, f"{domain}.created")
    c = consumer(db, redis, keys, group, {f"{domain}.created": recording_handler(group)})
    await c.ensure_groups()
    [event_id] = await publish_committed(db, f"{domain}.created")
    await relay(db, redis, keys).relay_once()
    # The relay published but "crashed" before marking the row sent: it sends it again.
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(outbox).where(outbox.c.event_id == event_id).values(published_at=None)
        )
    await relay(db, redis, keys).relay_once()
    # And the very same entry fields added by hand once more.
    [(_, fields)] = (await redis.xrange(stream))[:1]
    await redis.xadd(stream, fields)
    assert len(await redis.xrange(stream)) == 3

    assert await c.read_once() == 3
    assert [r.event_id for r in await work_rows(db, group)] == [event_id]
    assert await pending(redis, stream, group) == 0


async def test_two_groups_each_handle_the_event(
    db: Database, redis: Redis, keys: Keys, domain: str
) -> None:
    groups = [f"g{uuid.uuid4().hex[:10]}" for _ in range(2)]
    consumers = [
        consumer(db, redis, keys, g, {f"{domain}.created": recording_handler(g)}) for g in groups
    ]
    for c in consumers:
        await c.ensure_groups()
    [event_id] = await publish_committed(db, f"{domain}.created")
    await relay(db, redis, keys).relay_once()
    for c in consumers:
        assert await c.read_once() == 1
    for g in groups:
        assert [r.event_id for r in await work_rows(db, g)] == [event_id]


async def test_relay_and_consumer_run_loops_deliver_end_to_end(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    r = relay(db, redis, keys)
    r.poll_seconds = 0.05
    c = consumer(db, redis, keys, group, {f"{domain}.created": recording_handler(group)})
    async with running(r.run(), c.run()):
        await asyncio.sleep(0.1)  # the consumer creates its group first
        [event_id] = await publish_committed(db, f"{domain}.created")
        r.wake()
        for _ in range(100):
            if await work_rows(db, group):
                break
            await asyncio.sleep(0.05)
    assert [row.event_id for row in await work_rows(db, group)] == [event_id]


async def test_consumer_run_recreates_its_group_after_redis_lost_it(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    """A Redis restarted without persistence has no streams and no groups: the running
    consumer must not fail with NOGROUP forever."""
    stream = stream_for(keys, f"{domain}.created")
    c = consumer(db, redis, keys, group, {f"{domain}.created": recording_handler(group)})
    async with running(c.run()):
        for _ in range(100):
            if await redis.exists(stream):
                break
            await asyncio.sleep(0.02)
        await redis.delete(stream)  # the stream and its groups are gone
        [event_id] = await publish_committed(db, f"{domain}.created")
        await relay(db, redis, keys).relay_once()
        for _ in range(100):
            if await work_rows(db, group):
                break
            await asyncio.sleep(0.05)
    assert [row.event_id for row in await work_rows(db, group)] == [event_id]


async def test_consumer_run_waits_for_redis_that_is_down_at_start(
    db: Database, keys: Keys, group: str
) -> None:
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    c = consumer(db, dead, keys, group, {"x.created": recording_handler(group)})
    try:
        async with running(c.run()) as [task]:
            await asyncio.sleep(0.3)
            assert not task.done(), "the consumer loop died instead of retrying"
    finally:
        await dead.aclose()


# --- a consumer process killed mid-event -----------------------------------------------


async def start_worker(group: str, event_type: str, mode: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.shared.event_worker",
        group,
        event_type,
        mode,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_line(proc: asyncio.subprocess.Process, prefix: str) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode()
            if not line:
                raise EOFError
            if line.startswith(prefix):
                return line.strip()
    except (EOFError, TimeoutError):
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        err = (await proc.stderr.read()).decode()
        pytest.fail(f"worker never printed {prefix!r} (rc={proc.returncode}):\n{err}")


@pytest.mark.parametrize("mode", ["before-ack", "before-commit"])
async def test_consumer_killed_mid_event_then_event_handled_exactly_once(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str, mode: str
) -> None:
    """The acceptance test: a consumer process is SIGKILLed after its work committed but
    before XACK (or before its commit); another consumer reclaims the entry with XAUTOCLAIM,
    and the work exists exactly once and the entry is acknowledged."""
    event_type = f"{domain}.created"
    stream = stream_for(keys, event_type)
    reclaimer = consumer(
        db,
        redis,
        keys,
        group,
        {event_type: recording_handler(group, note="reclaimer")},
        consumer_name="reclaimer",
        reclaim_idle_ms=200,
    )
    await reclaimer.ensure_groups()
    [event_id] = await publish_committed(db, event_type)
    await relay(db, redis, keys).relay_once()

    proc = await start_worker(group, event_type, mode)
    try:
        await wait_for_line(proc, "BLOCKED")
        # The worker holds the entry: delivered to it, not acknowledged.
        [entry] = await redis.xpending_range(stream, group, min="-", max="+", count=10)
        assert entry["consumer"] == f"worker-{proc.pid}"
        committed = await work_rows(db, group)
        if mode == "before-ack":
            assert [(r.event_id, r.note) for r in committed] == [(event_id, f"worker {proc.pid}")]
        else:
            assert committed == []
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -9

    assert await pending(redis, stream, group) == 1
    await asyncio.sleep(0.25)  # the dead worker's entry is now idle longer than 200 ms
    assert await reclaimer.reclaim_once() == 1

    rows = await work_rows(db, group)
    assert [r.event_id for r in rows] == [event_id]
    expected_note = f"worker {proc.pid}" if mode == "before-ack" else "reclaimer"
    assert rows[0].note == expected_note
    assert await pending(redis, stream, group) == 0
    assert await redis.xpending_range(stream, group, min="-", max="+", count=10) == []
    # Nothing left to do for anyone.
    assert await reclaimer.reclaim_once() == 0
    assert await reclaimer.read_once() == 0
    assert len(await work_rows(db, group)) == 1


def test_event_fields_round_trip() -> None:
    event = Event(
        id=uuid.uuid4(),
        type="booking.confirmed",
        source="booking",
        occurred_at=clock.utcnow(),
        payload={"amount": "5250.00", "seats": ["12A"]},
        request_id=None,
    )
    fields = event.to_fields()
    assert all(isinstance(v, str) for v in fields.values())
    assert json.loads(fields["payload"]) == event.payload
    assert Event.from_fields(fields) == event


async def test_a_commit_wakes_the_relay_through_listen_notify(
    db: Database, redis: Redis, keys: Keys, domain: str
) -> None:
    """No polling and no in-process wake(): the NOTIFY sent on commit is what wakes it (so it
    also wakes the relays of the service's other processes)."""
    r = relay(db, redis, keys)
    r.listen_dsn = db.engine.url.set(drivername="postgresql").render_as_string(False)
    r.poll_seconds = r.listening_poll_seconds = 3600
    stream = stream_for(keys, f"{domain}.created")
    async with running(r.run()):
        await eventually(lambda: r.listening)
        await asyncio.sleep(0.2)  # the relay's first pass is done: it sleeps for an hour
        [event_id] = await publish_committed(db, f"{domain}.created")

        async def relayed() -> bool:
            return await redis.xlen(stream) == 1

        await eventually(relayed, within=5)
    [(_, fields)] = await redis.xrange(stream)
    assert fields["id"] == str(event_id)


async def test_without_listen_the_relay_falls_back_to_polling(
    db: Database, redis: Redis, keys: Keys, domain: str
) -> None:
    r = relay(db, redis, keys)
    r.listen_dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"  # refused
    r.poll_seconds = 0.1
    stream = stream_for(keys, f"{domain}.created")
    async with running(r.run()):
        await asyncio.sleep(0.2)
        await publish_committed(db, f"{domain}.created")

        async def relayed() -> bool:
            return await redis.xlen(stream) == 1

        await eventually(relayed, within=5)
        assert not r.listening


async def test_runs_of_a_type_go_to_its_batch_handler_in_one_transaction(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    """A batch handler gets each run of its type's events in one transaction; every other
    event gets a transaction of its own (several handlers in one transaction would take their
    locks in an order no other transaction agrees with: a deadlock for the API's requests)."""
    created = await publish_committed(db, f"{domain}.created", n=3)
    moved = await publish_committed(db, f"{domain}.moved", n=2)
    more = await publish_committed(db, f"{domain}.created", n=2)
    transactions: dict[str, list[int]] = {"one": [], "batch": []}
    runs: list[list[uuid.UUID]] = []

    async def one(event: Event, session: AsyncSession) -> None:
        transactions["one"].append(id(session.get_transaction()))
        await recording_handler(group, "one")(event, session)

    async def batch(events: Sequence[Event], session: AsyncSession) -> None:
        transactions["batch"].append(id(session.get_transaction()))
        runs.append([e.id for e in events])
        for event in events:
            await recording_handler(group, "batch")(event, session)

    handlers = {f"{domain}.moved": one}
    c = consumer(db, redis, keys, group, handlers, batch_handlers={f"{domain}.created": batch})
    await c.ensure_groups()
    await relay(db, redis, keys).relay_once()
    assert await c.read_once() == 7
    assert runs == [created, more]  # consecutive events of the type arrive as one run
    assert len(set(transactions["one"])) == 2  # the others: one transaction each
    assert [r.event_id for r in await work_rows(db, group)] == [*created, *moved, *more]
    assert await pending(redis, stream_for(keys, f"{domain}.created"), group) == 0

    # A redelivery of the same entries does nothing twice.
    for _, fields in await redis.xrange(stream_for(keys, f"{domain}.created")):
        await redis.xadd(stream_for(keys, f"{domain}.created"), fields)
    assert await c.read_once() == 7
    assert len(await work_rows(db, group)) == 7
    assert runs == [created, more]


async def test_a_bad_event_in_a_run_fails_alone(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    ids = await publish_committed(db, f"{domain}.created", n=4)
    bad = ids[2]

    async def batch(events: Sequence[Event], session: AsyncSession) -> None:
        for event in events:
            await recording_handler(group)(event, session)
            if event.id == bad:
                raise RuntimeError("this one is broken")

    c = consumer(db, redis, keys, group, {}, batch_handlers={f"{domain}.created": batch})
    await c.ensure_groups()
    await relay(db, redis, keys).relay_once()
    assert await c.read_once() == 3  # the run failed; one by one, three went through
    assert [r.event_id for r in await work_rows(db, group)] == [i for i in ids if i != bad]
    assert await pending(redis, stream_for(keys, f"{domain}.created"), group) == 1


async def test_events_under_the_old_stream_names_move_to_the_new_ones_and_are_handled_once(
    db: Database, redis: Redis, keys: Keys, domain: str, group: str
) -> None:
    """The upgrade step for the `{events}` tag: what an old relay left under
    `<prefix>events:<domain>` is moved and handled; one already handled is not handled again."""
    ids = await publish_committed(db, f"{domain}.created", n=3)
    await relay(db, redis, keys).relay_once()
    new = stream_for(keys, f"{domain}.created")
    handled = consumer(db, redis, keys, group, {f"{domain}.created": recording_handler(group)})
    await handled.ensure_groups()
    await handled.read_once(block_ms=10)  # the three handled under the new name
    # Written by an old relay: the same three events again, plus one more, under the old name.
    old = keys.key("events", domain)
    for _, fields in await redis.xrange(new):
        await redis.xadd(old, fields)
    [late] = await publish_committed(db, f"{domain}.created")
    await relay(db, redis, keys).relay_once()
    [last] = (await redis.xrange(new))[-1:]
    await redis.xadd(old, last[1])
    await redis.xdel(new, last[0])  # as if the old relay, not the new one, had sent it

    assert await move_legacy_streams(redis, keys, batch=2) == 4
    assert await redis.exists(old) == 0
    await handled.read_once(block_ms=10)
    rows = await work_rows(db, group)
    assert sorted(r.event_id for r in rows) == sorted([*ids, late])  # each once
    assert await move_legacy_streams(redis, keys) == 0
