"""Every service with a Postgres database of its own, not only a schema of its own.

Each database is created and migrated as a deployment would do it: `python -m shared.manage
check` and `migrate --service <name>` with that service's `DATABASE_URL` alone. Then the
journey of SPEC §3 and a cancellation with its refund pass through the gateway, and no process
logged an error: a service that read another's tables (in a request or in a background loop)
would find no such table.
"""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from shared.db import Database
from shared.manage import migratable
from tests.e2e.conftest import load_reference_data, own_stack, seed_discount_codes, signer
from tests.e2e.journey import cancel_with_refund, spec_journey
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.scale]

_TABLES = """
    SELECT DISTINCT table_schema FROM information_schema.tables
    WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
"""


@pytest.fixture(scope="module")
def split_stack(test_database: str) -> Iterator[Stack]:
    """The whole system, each service on a database of its own."""
    with own_stack("split", database_per_service=True) as stack:
        yield stack


@pytest.fixture
async def split_gateway(split_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=split_stack.gateway.url, timeout=15.0, trust_env=False
    ) as client:
        yield client


async def test_each_database_holds_one_service_s_tables(split_stack: Stack) -> None:
    urls = {info.name: split_stack.database_url(info.name) for info in migratable()}
    assert len(set(urls.values())) == len(urls) == 8
    for info in migratable():
        db = Database(urls[info.name], pool_size=1, max_overflow=0)
        try:
            async with db.engine.connect() as conn:
                schemas = set((await conn.execute(text(_TABLES))).scalars())
        finally:
            await db.dispose()
        assert schemas == {info.schema}, (info.name, schemas)


async def test_the_journey_and_a_refund_with_a_database_per_service(
    split_stack: Stack, split_gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await load_reference_data(split_stack)
    seed_discount_codes(split_stack)
    journey = await spec_journey(split_gateway, signer(split_gateway), admin)
    await cancel_with_refund(split_gateway, journey)
    assert split_stack.errors() == {}
