"""Waiting for what background work (consumers, relays, sweepers) does on its own schedule."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 15.0, every: float = 0.05
) -> None:
    """Wait until `check()` is true (it may be sync or async); fail after `within` seconds.

    Wait for the state the test means, never for a neighbouring one that happens just before.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within:g} s: {check.__name__}")
        await asyncio.sleep(every)
