"""Background loops (outbox relay, event consumers, sweepers) that live as long as the app."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

log = logging.getLogger("shared.background")


async def every(seconds: float, job: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Run `job` every `seconds` forever; a failing run is logged and the loop goes on."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed", name)
        await asyncio.sleep(seconds)


@asynccontextmanager
async def running(*loops: Awaitable[None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Start the loops as tasks; cancel and await them on exit."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
