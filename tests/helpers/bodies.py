"""Request bodies for tests of size and time limits."""

import asyncio
from collections.abc import AsyncIterator


class Chunks:
    """A chunked request body (`count` chunks of `size` bytes, `pause` seconds apart) that
    counts in `sent` what the server pulled from it."""

    def __init__(self, size: int, *, count: int, pause: float = 0.0) -> None:
        self.size, self.count, self.pause = size, count, pause
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            if self.pause:
                await asyncio.sleep(self.pause)
            self.sent += self.size
            yield b"x" * self.size
