"""The gateway's view of the system: every service's `/health`, asked concurrently."""

import asyncio
import time
from typing import Any

import httpx

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


async def service_states(
    client: httpx.AsyncClient, urls: dict[str, str], *, wait_seconds: float
) -> dict[str, dict[str, Any]]:
    """Service name -> state, for every service, asked at the same time."""
    names = list(urls)
    probes = (probe(client, urls[n], wait_seconds=wait_seconds) for n in names)
    states = await asyncio.gather(*probes)
    return dict(zip(names, states, strict=True))


def health_report(states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`ok` when every service is up, else `degraded`; the gateway lists itself as up."""
    everything = {GATEWAY: {"status": "up", "latencyMs": 0.0}, **states}
    ok = all(s["status"] == "up" for s in states.values())
    return {"status": "ok" if ok else "degraded", "service": GATEWAY, "services": everything}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
