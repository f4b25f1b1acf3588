"""Load shedding: above capacity a process answers 503 at once instead of queueing without end.

A process can only do so much at a time; past that, every extra request just waits, and waits
longer the more there are (at 1,000 concurrent holds the median answer took 25 s). Here at most
`max_in_flight` requests are handled at once and at most `max_queued` wait for a turn, each for
at most `queue_timeout` seconds; anything beyond is answered straight away with
`503 OVERLOADED` and `Retry-After`, which costs next to nothing and tells clients to back off.
Liveness and metrics are exempt: an overloaded process is still alive.
"""

import asyncio

from prometheus_client import Counter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import Overloaded, domain_error_response

EXEMPT_PATHS = frozenset({"/health", "/metrics"})

SHED = Counter("http_requests_shed_total", "Requests refused with 503 over capacity", ["service"])


class LoadShedder:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_in_flight: int,
        max_queued: int,
        queue_timeout: float,
        exempt_paths: frozenset[str] = EXEMPT_PATHS,
    ) -> None:
        self.app = app
        self.service = service
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout
        self.exempt_paths = exempt_paths
        self.in_flight = 0
        self.queued = 0
        self._turns = asyncio.Semaphore(max(1, max_in_flight))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_in_flight <= 0 or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            SHED.labels(self.service).inc()
            problem = Overloaded(f"The {self.service} service is over capacity; retry shortly")
            await domain_error_response(Request(scope), problem)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._turns.release()

    async def _admit(self) -> bool:
        """Take a turn: at once, after a bounded wait in the queue, or not at all."""
        if not self._turns.locked():
            await self._turns.acquire()  # a free turn: returns without waiting
            return True
        if self.queued >= self.max_queued:
            return False
        self.queued += 1
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._turns.acquire()
            return True
        except TimeoutError:
            return False
        finally:
            self.queued -= 1
