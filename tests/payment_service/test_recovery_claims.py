"""Every process runs the recovery loop: one payment is driven by one of them at a time."""

from payment_service.recovery import claimed
from shared.db import Database
from tests.conftest import TEST_DATABASE_URL


async def test_a_payment_is_claimed_by_one_process_at_a_time() -> None:
    first, second = (Database(TEST_DATABASE_URL, pool_size=2, max_overflow=0) for _ in "ab")
    try:
        async with (
            claimed(first.sessionmaker, 42) as mine,
            claimed(second.sessionmaker, 42) as also_mine,
            claimed(second.sessionmaker, 43) as another,
        ):
            assert (mine, also_mine, another) == (True, False, True)
        # Given back when the first is done with it.
        async with claimed(second.sessionmaker, 42) as now_mine:
            assert now_mine
    finally:
        await first.dispose()
        await second.dispose()
