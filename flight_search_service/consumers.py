"""Seat-service events this service consumes (consumer group "flight-search"), read with their
contracts (`shared.contracts.seats`).

- `seats.availability_changed` (`AvailabilityChanged`): the availability read-model takes it
  unless a newer version was applied; cached results that needed more seats than are now left
  are dropped.
- `seats.sold_out` (`SoldOut`): no seats left in any cabin; every cached result showing the
  flight is dropped.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from flight_search_service.cache import SearchCache
from flight_search_service.service import apply_availability
from shared.contracts.seats import AvailabilityChanged, SoldOut
from shared.events import Event, Handler

GROUP = "flight-search"


def seat_event_handlers(*, cache: SearchCache) -> dict[str, Handler]:
    async def availability_changed(event: Event, session: AsyncSession) -> None:
        changed = AvailabilityChanged.of(event)
        await apply_availability(
            session=session,
            cache=cache,
            flight_id=changed.flight_id,
            # A cabin the aircraft does not have is left out: none of its seats.
            economy=changed.by_cabin.get("economy", 0),
            business=changed.by_cabin.get("business", 0),
            version=changed.availability_version,
        )

    async def sold_out(event: Event, session: AsyncSession) -> None:
        sold_out = SoldOut.of(event)
        # Same version as the availability change that sold it out: still applies.
        await apply_availability(
            session=session,
            cache=cache,
            flight_id=sold_out.flight_id,
            economy=0,
            business=0,
            version=sold_out.availability_version,
            inclusive=True,
        )

    return {AvailabilityChanged.type: availability_changed, SoldOut.type: sold_out}
