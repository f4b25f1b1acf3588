"""What shows that a job several processes race to do was done once, and by both of them.

- Events: every outbox row of every service reaches its stream once (stream entries counted
  per event id), nothing is dead-lettered, and every consumer group acknowledged every entry.
- Rows: a trigger this module installs (`record_writes`) records every write of a table's rows;
  the state a job moves a row to (a hold expired, a payment settled, a message sent) is written
  once, where a second sweeper, recovery or dispatcher would write it again.
- Messages: the mock sender's log lines, one per notification delivered, in either process.
- Requests: each process's `/metrics`, which count the requests it served.
"""

import asyncio
import json
import re
from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy import Row, text

from shared.contracts import EVENTS
from shared.db import Database
from shared.events import dead_letter_stream, stream_for
from shared.manage import migratable
from shared.redis import Keys
from tests.conftest import REDIS_URL
from tests.e2e.stack import Process, Stack
from tests.helpers import eventually

_WRITES = """
CREATE TABLE IF NOT EXISTS public.test_writes (
    tbl text NOT NULL,
    row_key text NOT NULL,
    state jsonb NOT NULL,
    writer text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
# TG_ARGV: the key column, then the columns whose values make the row's state.
_RECORD = """
CREATE OR REPLACE FUNCTION public.test_record_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
    s jsonb := '{}'::jsonb;
    col text;
BEGIN
    FOREACH col IN ARRAY TG_ARGV[1:] LOOP
        s := s || jsonb_build_object(col, r -> col);
    END LOOP;
    INSERT INTO public.test_writes (tbl, row_key, state, writer)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, r ->> TG_ARGV[0], s,
            current_setting('application_name'));
    RETURN NULL;
END $$
"""
# The application name of the tests' own statements, whose writes are not the services'.
_TESTS = "e2e-test"
# Long enough for every process's loop (each wakes every 0.2 s in these runs) to be waiting.
_EVERY_LOOP_WAITING = 1.0
_SENT = re.compile(r"mock (?:email|sms) to user \d+ \(notification (\d+),")


async def query(url: str, sql: str, **params: Any) -> list[Row[Any]]:
    """The rows of one statement, run in a transaction of its own on database `url` (as the
    tests' own: `writes` leaves out what it writes)."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(f"SET LOCAL application_name = '{_TESTS}'")
            result = await conn.execute(text(sql), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await db.dispose()


async def fall_due_together(url: str, table: str, statement: str, **params: Any) -> None:
    """Run `statement` (what makes a batch of work due) with `table` locked, and keep the lock
    a while: every process's job that reads the table waits for it, and all of them read at
    the same moment when it is released. So they really race for the whole batch."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(f"SET LOCAL application_name = '{_TESTS}'")
            await conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            await conn.execute(text(statement), params)
            await asyncio.sleep(_EVERY_LOOP_WAITING)
    finally:
        await db.dispose()


async def record_writes(url: str, table: str, key: str, *state: str) -> None:
    """From now on, every UPDATE of a row of `table` records its `key` and `state` columns."""
    name = f"test_record_{table.replace('.', '_')}"
    args = ", ".join(f"'{column}'" for column in (key, *state))
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(_WRITES)
            await conn.exec_driver_sql(_RECORD)
            await conn.exec_driver_sql(
                f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION public.test_record_write({args})"
            )
    finally:
        await db.dispose()


async def writes(url: str, table: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, state) of every write of `table`'s rows the services made, in order."""
    rows = await query(
        url,
        "SELECT row_key, state FROM public.test_writes WHERE tbl = :t AND writer <> :tests"
        " ORDER BY at",
        t=table,
        tests=_TESTS,
    )
    return [(row.row_key, row.state) for row in rows]


def written_more_than_once(recorded: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The (key, state) pairs written more than once: a job done twice."""
    counts = Counter((key, tuple(sorted(state.items()))) for key, state in recorded)
    return [pair for pair, n in counts.items() if n > 1]


async def outbox_events(stack: Stack) -> dict[str, bool]:
    """Event id -> relayed yet, for every outbox row of every service of `stack`."""
    events: dict[str, bool] = {}
    for info in migratable():
        url = stack.database_url(info.name)
        outbox = f"{info.schema}.outbox"
        if (await query(url, "SELECT to_regclass(:t) AS reg", t=outbox))[0].reg is None:
            continue  # a service with no events of its own (auth)
        sql = f"SELECT event_id::text AS id, published_at IS NOT NULL AS sent FROM {outbox}"  # noqa: S608 (the registry's schema)
        events.update((row.id, row.sent) for row in await query(url, sql))
    return events


async def every_event_relayed_and_consumed_once(stack: Stack) -> list[dict[str, Any]]:
    """Every event reached its stream once, and every consumer group took each one; the
    events, with their payloads."""
    keys = Keys(stack.base_env["REDIS_PREFIX"])
    streams = sorted({stream_for(keys, event_type) for event_type in EVENTS})

    async def all_relayed() -> bool:
        return all((await outbox_events(stack)).values())

    await eventually(all_relayed, within=30)
    events = await outbox_events(stack)
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        entries = [fields for stream in streams for _, fields in await redis.xrange(stream)]
        ids = Counter(fields["id"] for fields in entries)
        twice = [i for i, n in ids.items() if n > 1]
        assert not twice, f"events relayed more than once: {twice}"
        assert set(ids) ^ set(events) == set(), (
            [f["type"] for f in entries if f["id"] not in events],
            len(set(events) - set(ids)),
        )
        dead = await redis.xrange(dead_letter_stream(keys))
        assert not dead, f"dead-lettered: {dead}"

        async def all_acknowledged() -> bool:
            return all([await _taken(redis, s) for s in streams])

        await eventually(all_acknowledged, within=30)
    finally:
        await redis.aclose()
    return [{**fields, "payload": json.loads(fields["payload"])} for fields in entries]


async def _taken(redis: Redis, stream: str) -> bool:
    """Has every consumer group of `stream` read and acknowledged all of it?"""
    if not await redis.exists(stream):
        return True
    last = (await redis.xinfo_stream(stream))["last-generated-id"]
    groups = await redis.xinfo_groups(stream)
    return all(g["pending"] == 0 and g["last-delivered-id"] == last for g in groups)


def sent_messages(processes: list[Process]) -> Counter[int]:
    """Notification id -> how many times the mock sender of these processes delivered it."""
    sent: Counter[int] = Counter()
    for proc in processes:
        sent.update(int(m) for m in _SENT.findall(proc.log_path.read_text(errors="replace")))
    return sent


async def requests_served(proc: Process) -> int:
    """Requests `proc` answered, other than `/health` and `/metrics` (its own `/metrics`)."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        body = (await client.get(f"{proc.url}/metrics")).text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(body)
            if family.name == "http_requests"
            for sample in family.samples
            if sample.name == "http_requests_total"
            and sample.labels.get("route") not in ("/health", "/metrics")
        )
    )
