"""Hand-written SQL's connections: from the pool, and never back into it mid-transaction."""

import pytest

from seat_service.pg import connect, transaction


async def test_a_connection_left_in_a_transaction_is_not_pooled(app):
    db = app.state.db
    async with connect(db) as conn:
        await conn.execute("BEGIN")  # as if its ROLLBACK had been interrupted
        await conn.execute("CREATE TEMP TABLE left_behind (x int)")
    for _ in range(db.engine.pool.size() + 2):
        async with connect(db) as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_behind')") is None


async def test_a_transaction_rolls_back_on_an_error(app):
    db = app.state.db
    with pytest.raises(RuntimeError):
        async with transaction(db) as conn:
            await conn.execute("CREATE TEMP TABLE rolled_back (x int)")
            raise RuntimeError
    async with connect(db) as conn:
        assert await conn.fetchval("SELECT to_regclass('pg_temp.rolled_back')") is None
