"""A test-only schema for the event tests: an outbox, a processed-events table and `work`.

`work` has no unique key on the event on purpose: only the consumer's processed-event record
may stop a redelivered event from doing its work twice.
"""

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Uuid, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import NAMING_CONVENTION
from shared.events import outbox_table, processed_events_table

SCHEMA = "evtest"

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
outbox = outbox_table(metadata)
processed = processed_events_table(metadata)
work = Table(
    "work",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("note", String(200), nullable=False, server_default=""),
)


async def create(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await conn.run_sync(metadata.create_all)


async def drop(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
