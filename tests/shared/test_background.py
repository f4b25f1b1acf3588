"""shared.background: loops that stop when cancelled, whatever else happens at that moment."""

import asyncio

import pytest

from shared.background import Alarm, every, running


async def _loop(alarm: Alarm, ticks: list[int]) -> None:
    while True:
        ticks.append(1)
        await alarm.sleep(10)


async def test_a_wake_ends_the_sleep_early() -> None:
    alarm, ticks = Alarm(), []
    async with running(_loop(alarm, ticks)):
        await asyncio.sleep(0.01)
        alarm.wake()
        await asyncio.sleep(0.01)
    assert len(ticks) == 2


@pytest.mark.parametrize("rounds", [50])
async def test_cancel_arriving_with_a_wake_still_stops_the_loop(rounds: int) -> None:
    """asyncio.wait_for on Python 3.11 loses such a cancellation; the loop then never ends."""
    for _ in range(rounds):
        alarm = Alarm()
        task = asyncio.ensure_future(_loop(alarm, []))
        await asyncio.sleep(0)
        alarm.wake()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2)


async def test_a_loop_stops_even_when_its_job_swallows_the_cancellation() -> None:
    """Like a Redis client that turns a cancelled blocking read into a quiet return."""
    started = asyncio.Event()

    async def swallowing_job() -> None:
        started.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return

    task = asyncio.ensure_future(every(0.01, swallowing_job, name="swallower"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
