"""The hand-written migrations create exactly what the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from booking_service.models import Base as BookingBase
from payment_service.models import Base as PaymentBase
from tests.conftest import TEST_DATABASE_URL


@pytest.mark.parametrize("metadata", [BookingBase.metadata, PaymentBase.metadata])
async def test_migrations_match_the_models(metadata):
    engine = create_async_engine(TEST_DATABASE_URL)

    def diff(connection):
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "compare_type": True,
                "version_table_schema": metadata.schema,
                "include_name": lambda name, type_, _parent: (
                    name == metadata.schema if type_ == "schema" else True
                ),
            },
        )
        return compare_metadata(context, metadata)

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
