"""A consumer process that the exactly-once tests SIGKILL at a chosen moment.

    python -m tests.shared.event_worker GROUP EVENT_TYPE MODE

MODE `before-ack`: the handler's work commits, then the process stops just before XACK.
MODE `before-commit`: the handler's work is written in the open transaction, then the process
stops before the commit. Either way it prints `BLOCKED <message or event id>` and sleeps until
it is killed. The environment (DATABASE_URL, REDIS_URL or REDIS_CLUSTER_NODES, REDIS_PREFIX)
comes from the test run.
"""

import asyncio
import os
import sys

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events import Event, EventConsumer
from shared.redis import Keys, create_redis
from shared.settings import BaseServiceSettings
from tests.shared.evschema import processed, work


async def block_forever(what: str) -> None:
    print(f"BLOCKED {what}", flush=True)
    await asyncio.Event().wait()


async def main(group: str, event_type: str, mode: str) -> None:
    settings = BaseServiceSettings()
    db = Database(settings.database_url, pool_size=2, max_overflow=0)
    redis = create_redis(settings.redis_url, cluster_nodes=settings.redis_cluster_nodes)

    async def handler(event: Event, session: AsyncSession) -> None:
        await session.execute(
            insert(work).values(consumer=group, event_id=event.id, note=f"worker {os.getpid()}")
        )
        if mode == "before-commit":
            await block_forever(str(event.id))

    consumer = EventConsumer(
        sessionmaker=db.sessionmaker,
        redis=redis,
        keys=Keys(settings.redis_prefix),
        processed=processed,
        group=group,
        handlers={event_type: handler},
        consumer_name=f"worker-{os.getpid()}",
        block_ms=200,
    )
    if mode == "before-ack":

        async def ack_never(stream: str, *message_ids: str) -> None:
            await block_forever(message_ids[0])

        consumer.ack = ack_never  # type: ignore[method-assign]
    await consumer.ensure_groups()
    print("READY", flush=True)
    while True:
        await consumer.read_once()


if __name__ == "__main__":
    group, event_type, mode = sys.argv[1:4]
    assert mode in ("before-ack", "before-commit"), mode
    asyncio.run(main(group, event_type, mode))
