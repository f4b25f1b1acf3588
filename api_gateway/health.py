"""The gateway's view of the system (`GET /status`): every service's `/health`, asked
concurrently, at most once every few seconds however often it is asked.

The gateway's own `/health` is its liveness alone (the kit's): a liveness probe must be cheap
and must not fail because something behind the gateway did, and a public route that calls nine
services on every hit is an amplifier.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api_gateway.config import replica_urls
from shared import clock

GATEWAY = "gateway"


async def probe(client: httpx.AsyncClient, url: str, *, wait_seconds: float) -> dict[str, Any]:
    """One service's state: `up` when its `/health` answers 200 within `wait_seconds`."""
    started = time.perf_counter()
    try:
        response = await client.get(url.rstrip("/") + "/health", timeout=wait_seconds)
    except httpx.HTTPError as exc:
        error = "timeout" if isinstance(exc, httpx.TimeoutException) else "unreachable"
        return {"status": "down", "latencyMs": _ms(started), "error": error}
    state: dict[str, Any] = {"status": "up", "latencyMs": _ms(started)}
    if response.status_code != 200:
        state.update(status="down", error=f"HTTP {response.status_code}")
    await response.aclose()
    return state


async def service_state(
    client: httpx.AsyncClient, url: str, *, wait_seconds: float
) -> dict[str, Any]:
    """One service's state: every process behind its URL setting (`replica_urls`) asked; the
    service is up when all of them are (the slowest one's latency), else the first one down."""
    probes = (probe(client, u, wait_seconds=wait_seconds) for u in replica_urls(url))
    states = await asyncio.gather(*probes)
    down = [s for s in states if s["status"] != "up"]
    return down[0] if down else max(states, key=lambda s: float(s["latencyMs"]))


async def service_states(
    client: httpx.AsyncClient, urls: dict[str, str], *, wait_seconds: float
) -> dict[str, dict[str, Any]]:
    """Service name -> state, for every service, asked at the same time."""
    names = list(urls)
    probes = (service_state(client, urls[n], wait_seconds=wait_seconds) for n in names)
    states = await asyncio.gather(*probes)
    return dict(zip(names, states, strict=True))


def health_report(states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`ok` when every service is up, else `degraded`; the gateway lists itself as up."""
    everything = {GATEWAY: {"status": "up", "latencyMs": 0.0}, **states}
    ok = all(s["status"] == "up" for s in states.values())
    return {"status": "ok" if ok else "degraded", "service": GATEWAY, "services": everything}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


Report = dict[str, Any]


class StatusCache:
    """The last report, kept `ttl` seconds; a round of probes is shared by everyone who asks
    while it runs (single flight), and finishes even if the one who started it goes away."""

    def __init__(self, *, ttl: float) -> None:
        self.ttl = ttl
        self._report: Report | None = None
        self._expires = 0.0
        self._round: asyncio.Future[Report] | None = None

    async def get(self, probe_round: Callable[[], Awaitable[Report]]) -> Report:
        if self._report is not None and time.monotonic() < self._expires:
            return self._report
        if self._round is None:
            self._round = asyncio.ensure_future(self._refresh(probe_round))
        return await asyncio.shield(self._round)

    async def _refresh(self, probe_round: Callable[[], Awaitable[Report]]) -> Report:
        try:
            report = {**await probe_round(), "checkedAt": clock.utcnow().isoformat()}
            self._report, self._expires = report, time.monotonic() + self.ttl
            return report
        finally:
            self._round = None
