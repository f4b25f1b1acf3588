"""The Alembic environment every service's `migrations/env.py` delegates to.

Each service migrates only its own schema, and keeps its version table there too, so the
services' histories never touch each other.
"""

import asyncio
import os

import sqlalchemy as sa
from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_URL = "postgresql+asyncpg://postgres@localhost:5432/flightbook"


def _database_url() -> str:
    return context.config.attributes.get("database_url") or os.environ.get(
        "DATABASE_URL", DEFAULT_URL
    )


def run_migrations(metadata: MetaData) -> None:
    schema = metadata.schema
    if not schema:
        raise ValueError("a service's metadata must name its schema")

    def include_name(name: str | None, type_: str, _parent: object) -> bool:
        return name == schema if type_ == "schema" else True

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(
            url=_database_url(),
            target_metadata=metadata,
            literal_binds=True,
            version_table_schema=schema,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    async def online() -> None:
        engine = create_async_engine(_database_url())
        async with engine.begin() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(online())


def add_event_version(schema: str) -> None:
    """The `version` of each outbox row's event contract (`shared.contracts`); rows written
    before it existed are version 1."""
    from alembic import op

    op.add_column(
        "outbox",
        sa.Column("version", sa.SmallInteger(), server_default="1", nullable=False),
        schema=schema,
    )


def drop_event_version(schema: str) -> None:
    from alembic import op

    op.drop_column("outbox", "version", schema=schema)


def add_event_traceparent(schema: str) -> None:
    """The W3C `traceparent` of the span that wrote each outbox row (`shared.tracing`); rows
    written untraced, or before it existed, have none."""
    from alembic import op

    op.add_column("outbox", sa.Column("traceparent", sa.String(55), nullable=True), schema=schema)


def drop_event_traceparent(schema: str) -> None:
    from alembic import op

    op.drop_column("outbox", "traceparent", schema=schema)
