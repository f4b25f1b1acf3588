"""Hand-written SQL on the hot paths (hold, seat map, get hold, confirm, release).

Through the ORM, one statement in a transaction costs BEGIN + statement + COMMIT round trips
and a few hundred microseconds of Python per statement (session, unit of work, compilation,
greenlet hops). Here a lone statement is one round trip (Postgres commits it on its own) and
a transaction is BEGIN + its statements + COMMIT, the SQL written so that a transaction needs
as few statements as possible. The SQL names its tables with their schema (`seats.holds`:
`models.SCHEMA`).

The service functions of those paths take the app's `Database` (explicitly, like a session)
and take a connection from its pool only for the statements: no session is made per request.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.util import greenlet_spawn

from shared.db import Database


@asynccontextmanager
async def connect(db: Database) -> AsyncIterator[Any]:
    """An asyncpg connection from the service's pool, given back afterwards.

    A connection still inside a transaction by then (its ROLLBACK was itself interrupted) is
    closed, never pooled: the next user would otherwise run inside that transaction."""
    pooled = await db.engine.raw_connection()
    conn: Any = pooled.driver_connection  # an asyncpg Connection
    try:
        yield conn
    finally:
        if conn.is_in_transaction():
            conn.terminate()
            await greenlet_spawn(pooled.invalidate)
        else:
            await greenlet_spawn(pooled.close)


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[Any]:
    """BEGIN ... COMMIT (ROLLBACK on an exception) on a pooled asyncpg connection."""
    async with connect(db) as conn, conn.transaction():
        yield conn
