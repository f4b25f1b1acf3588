"""Small helpers every test module may use."""

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from shared.service_identity import ServiceIdentity


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 15.0, every: float = 0.02
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


def service_token(caller: str, callee: str) -> str:
    """A service token of `caller` for a call to `callee`, signed with the caller's key of this
    test run (tests/conftest.py's SERVICE_KEYS_DIR), as the caller itself would mint it."""
    identity = ServiceIdentity(directory=Path(os.environ["SERVICE_KEYS_DIR"]), service=caller)
    return identity.mint(callee)


def service_headers(caller: str, callee: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token(caller, callee)}"}
