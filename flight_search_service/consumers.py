"""Seat-service events this service consumes (consumer group "flight-search").

- `seats.availability_changed` {flightId, seatsAvailable, byCabin: {economy, business},
  version}: the availability read-model takes it unless a newer version was applied; cached
  results that needed more seats than are now left are dropped.
- `seats.sold_out` {flightId, version?}: no seats left in any cabin; every cached result
  showing the flight is dropped.
"""

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flight_search_service.cache import SearchCache
from flight_search_service.service import apply_availability
from shared.events import Event, Handler

log = logging.getLogger("flight_search_service.consumers")

GROUP = "flight-search"
AVAILABILITY_CHANGED = "seats.availability_changed"
SOLD_OUT = "seats.sold_out"


def _int(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return None if value is None else int(value)


def seat_event_handlers(*, cache: SearchCache) -> dict[str, Handler]:
    async def availability_changed(event: Event, session: AsyncSession) -> None:
        p = event.payload
        flight_id = int(p["flightId"])
        total = _int(p, "seatsAvailable")
        by_cabin = p.get("byCabin")
        if isinstance(by_cabin, Mapping):
            # A cabin the aircraft does not have is left out: none of its seats.
            economy = _int(by_cabin, "economy") or 0
            business = _int(by_cabin, "business") or 0
        elif total is not None:
            # Without a per-cabin split, the total bounds each cabin.
            economy = business = total
        else:
            log.warning("%s for flight %s carries no seat counts", event.type, flight_id)
            return
        await apply_availability(
            session=session,
            cache=cache,
            flight_id=flight_id,
            economy=economy,
            business=business,
            version=_int(p, "version"),
        )

    async def sold_out(event: Event, session: AsyncSession) -> None:
        p = event.payload
        # Same version as the availability change that sold it out: still applies.
        await apply_availability(
            session=session,
            cache=cache,
            flight_id=int(p["flightId"]),
            economy=0,
            business=0,
            version=_int(p, "version"),
            inclusive=True,
        )

    return {AVAILABILITY_CHANGED: availability_changed, SOLD_OUT: sold_out}
