"""One async engine and session factory per service, and the shared naming convention."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """The MetaData of one service: its tables all live in `schema`, constraints named by the
    shared convention. Each service declares its base with it, a class mypy can follow:

        class Base(DeclarativeBase):
            metadata = service_metadata("auth")
    """
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 20,
        application_name: str = "flightbook",
    ) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No ping per checkout: it was a third of all round trips (BEGIN, `;`, ROLLBACK on
            # every checkout). A connection that died since its last use fails that one request
            # with a 503 (see `shared.app.is_unavailable`) and is discarded; recycling keeps
            # connections from outliving server-side idle timeouts.
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={"server_settings": {"application_name": application_name}},
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool with every statement committed as it runs: a read of one statement, or
        # a write that is one statement, needs no BEGIN and COMMIT/ROLLBACK round trips.
        self.autocommit_engine = self.engine.execution_options(**AUTOCOMMIT)
        self.read_sessionmaker = async_sessionmaker(self.autocommit_engine, expire_on_commit=False)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.read_sessionmaker() as session:
        yield session


# For routes that only read, a statement at a time (each sees its own snapshot).
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]


@asynccontextmanager
async def autocommit(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """`session` with each statement committed as it runs, then its connection given back.

    For steps that are one statement (Postgres runs each atomically; a guarded UPDATE re-checks
    its WHERE under the row lock): one round trip instead of BEGIN, statement, COMMIT. The
    session must not be in a transaction: its connection would keep that transaction's mode.
    A pooled connection returns to the default (transactional) mode when it is given back."""
    if session.in_transaction():
        raise RuntimeError("autocommit() needs a session outside any transaction")
    await session.connection(execution_options=AUTOCOMMIT)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    await session.commit()  # nothing to commit: it only gives the connection back
