"""Airport time zones (from `airportsdata`), so tickets show local times at each airport."""

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import airportsdata


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {k: v["tz"] for k, v in airportsdata.load("IATA").items() if v.get("tz")}


def load() -> int:
    """Read the airport table (slow the first time: call it off the event loop at start-up)."""
    return len(_zones())


@lru_cache(maxsize=4096)
def zone(iata: str) -> ZoneInfo | None:
    name = _zones().get(iata.upper())
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time(moment: datetime, iata: str) -> datetime:
    """`moment` at the airport's local time (with its offset); unchanged if the airport's zone
    is unknown."""
    tz = zone(iata)
    return moment.astimezone(tz) if tz is not None else moment
