"""The seat service's periodic job: the hold sweeper.

A hold that runs out disappears from Redis by itself (its keys' ttl): the seat is free again
at once, with no job involved. Its history row in Postgres still says `held`; the sweeper
records it as expired (ended at its expiry), every `hold_sweep_seconds`, in batches, skipping
rows another sweeper (another process) has locked. A hold being confirmed is pinned live in
Redis past its expiry (`HoldStore.pin`), so the sweeper leaves it alone.
"""

from collections.abc import Awaitable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from seat_service.holds import HoldStore
from seat_service.models import EXPIRED, HELD, Hold
from shared.background import every


async def sweep_expired_holds(
    *, session: AsyncSession, holds: HoldStore, batch_size: int = 500
) -> int:
    """Record as expired the holds past their expiry whose Redis keys are gone."""
    total = 0
    while True:
        async with session.begin():
            rows = (
                await session.execute(
                    select(Hold.hold_id, Hold.flight_id)
                    .where(Hold.status == HELD, Hold.expires_at < func.now())
                    .order_by(Hold.expires_at)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            live = await holds.live_holds([(r.flight_id, r.hold_id) for r in rows])
            dead = [r.hold_id for r, alive in zip(rows, live, strict=True) if not alive]
            if dead:
                await session.execute(
                    update(Hold)
                    .where(Hold.hold_id.in_(dead))
                    .values(status=EXPIRED, ended_at=Hold.expires_at)
                )
        total += len(dead)
        if len(rows) < batch_size or not dead:
            return total


def hold_sweeper(
    *, sessionmaker: async_sessionmaker[AsyncSession], holds: HoldStore, seconds: float
) -> Awaitable[None]:
    """The sweeper's loop (`shared.background.every`), for the app's lifetime."""

    async def sweep() -> None:
        async with sessionmaker() as session:
            await sweep_expired_holds(session=session, holds=holds)

    return every(seconds, sweep, name="hold-sweeper")
