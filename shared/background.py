"""Background loops (outbox relay, event consumers, sweepers) that live as long as the app."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from shared.settings import BaseServiceSettings

log = logging.getLogger("shared.background")


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop.

    A loop calls this each round: a library that swallows the CancelledError of a blocking
    call (a Redis XREADGROUP, say) would otherwise keep the loop, and the app's shutdown,
    going forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Periodic:
    """A job run every `interval` seconds, or sooner when woken (work arrived): the shape of
    every sweeper and dispatcher. A failing run is logged and the loop goes on."""

    def __init__(self, job: Callable[[], Awaitable[object]], *, interval: float, name: str) -> None:
        self.job = job
        self.interval = interval
        self.name = name
        self._alarm = Alarm()

    def wake(self) -> None:
        """Run the job now rather than at the end of the interval."""
        self._alarm.wake()

    async def run(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                await self.job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed", self.name)
            await self._alarm.sleep(self.interval)


async def every(seconds: float, job: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Run `job` every `seconds` forever (a `Periodic` nobody wakes)."""
    await Periodic(job, interval=seconds, name=name).run()


class Closable(Protocol):
    async def aclose(self) -> None: ...


@asynccontextmanager
async def background(
    settings: BaseServiceSettings,
    *loops: Callable[[], Awaitable[None]],
    closing: Sequence[Closable] = (),
) -> AsyncIterator[None]:
    """A service's loops for as long as its app lives, then `closing` closed: the end of every
    lifespan. `loops` are not yet started (`relay.run`, not `relay.run()`): with
    `settings.background_tasks` off none is, and tests drive the same functions by hand."""
    started = [loop() for loop in loops] if settings.background_tasks else []
    try:
        async with running(*started):
            yield
    finally:
        for resource in closing:
            await resource.aclose()


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


class Alarm:
    """A sleep that ends early when woken: the wait between runs of a loop like the outbox relay.

    It waits with `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 `wait_for` can
    swallow a cancellation that arrives together with the wake-up, and the loop (and with it
    the app's shutdown) would never end.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self._event.clear()
