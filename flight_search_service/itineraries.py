"""Building itineraries from candidate flights: pure functions, no I/O.

`build_itineraries()` re-checks every rule on whatever legs it is given, so the database
queries only have to return a superset of the useful legs; the property tests compare it with a
brute-force reference on random schedules.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.money import CURRENCY, fmt

SortKey = Literal["price", "duration", "departure"]


@dataclass(frozen=True, slots=True)
class Leg:
    """One flight as search sees it, with the fare and seats of the searched cabin."""

    flight_id: int
    flight_number: str
    airline: str
    airline_code: str
    origin: str
    destination: str
    departure: datetime  # aware, UTC
    arrival: datetime
    fare: Decimal
    seats: int
    cancelled: bool = False


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


class Itinerary:
    """Legs flown in order, with the figures search sorts and shows computed once."""

    __slots__ = (
        "arrival",
        "departure",
        "duration_minutes",
        "flight_ids",
        "layover_minutes",
        "legs",
        "price_per_passenger",
        "seats_available",
    )

    def __init__(self, legs: tuple[Leg, ...]) -> None:
        self.legs = legs
        self.flight_ids = tuple(leg.flight_id for leg in legs)
        self.departure = legs[0].departure
        self.arrival = legs[-1].arrival
        self.duration_minutes = _minutes(self.arrival - self.departure)
        self.layover_minutes = sum(_minutes(b.departure - a.arrival) for a, b in pairwise(legs))
        self.seats_available = min(leg.seats for leg in legs)
        self.price_per_passenger = sum((leg.fare for leg in legs), Decimal(0))

    @property
    def id(self) -> str:
        """Deterministic: the flight ids joined by "-" ("57", "12-57")."""
        return "-".join(map(str, self.flight_ids))

    @property
    def stops(self) -> int:
        return len(self.legs) - 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Itinerary) and other.legs == self.legs

    def __hash__(self) -> int:
        return hash(self.legs)

    def __repr__(self) -> str:
        return f"Itinerary({self.id})"


def local_day_bounds(day: date, tz: ZoneInfo, *, margin: timedelta) -> tuple[datetime, datetime]:
    """UTC bounds that surely contain every instant of the local `day` (widened by `margin`,
    so zones with a transition at midnight are covered; callers re-check the local date)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start - margin, end + margin


def build_itineraries(
    *,
    first_legs: Iterable[Leg],
    second_legs: Iterable[Leg],
    origin: str,
    destination: str,
    day: date,
    origin_tz: ZoneInfo,
    now: datetime,
    passengers: int,
    max_stops: int,
    min_connection_minutes: int,
    max_layover_minutes: int,
) -> list[Itinerary]:
    """Every direct and (if `max_stops` >= 1) one-stop itinerary from `origin` to
    `destination` departing on the local `day` at the origin.

    A leg is usable if it is not cancelled, has not departed (`departure > now`) and has
    `passengers` seats. A connection is `min_connection_minutes` to `max_layover_minutes`
    (both inclusive) on the ground, and never returns to the origin.
    """

    def usable(leg: Leg) -> bool:
        return not leg.cancelled and leg.departure > now and leg.seats >= passengers

    starts = [
        leg
        for leg in first_legs
        if leg.origin == origin
        and usable(leg)
        and leg.departure.astimezone(origin_tz).date() == day
    ]
    result = [Itinerary((leg,)) for leg in starts if leg.destination == destination]
    if max_stops < 1:
        return result

    # Second legs into the destination, per connecting airport, by departure time.
    by_hub: dict[str, list[Leg]] = defaultdict(list)
    for leg in second_legs:
        if leg.destination == destination and leg.origin != origin and usable(leg):
            by_hub[leg.origin].append(leg)
    departures: dict[str, list[datetime]] = {}
    for hub, legs in by_hub.items():
        legs.sort(key=lambda leg: leg.departure)
        departures[hub] = [leg.departure for leg in legs]

    min_conn = timedelta(minutes=min_connection_minutes)
    max_lay = timedelta(minutes=max_layover_minutes)
    for first in starts:
        hub = first.destination
        if hub == destination or hub not in by_hub:
            continue
        deps = departures[hub]
        lo = bisect_left(deps, first.arrival + min_conn)
        hi = bisect_right(deps, first.arrival + max_lay)
        result.extend(Itinerary((first, second)) for second in by_hub[hub][lo:hi])
    return result


_SORT_KEYS: dict[str, Callable[[Itinerary], tuple[Any, ...]]] = {
    "price": lambda i: (i.price_per_passenger, i.duration_minutes, i.departure, i.flight_ids),
    "duration": lambda i: (i.duration_minutes, i.price_per_passenger, i.departure, i.flight_ids),
    "departure": lambda i: (i.departure, i.duration_minutes, i.price_per_passenger, i.flight_ids),
}


def sort_itineraries(itineraries: Iterable[Itinerary], by: SortKey) -> list[Itinerary]:
    """Sorted by `by`, ties broken by the other keys and finally the flight ids."""
    return sorted(itineraries, key=_SORT_KEYS[by])


def itinerary_documents(
    itineraries: Iterable[Itinerary],
    *,
    passengers: int,
    cabin: str,
    tz_of: Callable[[str], ZoneInfo],
) -> list[dict[str, Any]]:
    """The SPEC §3 itinerary shape, local times with offsets at each airport."""
    segments: dict[int, dict[str, Any]] = {}

    def segment(leg: Leg) -> dict[str, Any]:
        doc = segments.get(leg.flight_id)
        if doc is None:
            doc = segments[leg.flight_id] = {
                "flightId": leg.flight_id,
                "flightNumber": leg.flight_number,
                "airline": leg.airline,
                "airlineCode": leg.airline_code,
                "source": leg.origin,
                "destination": leg.destination,
                "departureTime": leg.departure.astimezone(tz_of(leg.origin)).isoformat(),
                "arrivalTime": leg.arrival.astimezone(tz_of(leg.destination)).isoformat(),
                "durationMinutes": _minutes(leg.arrival - leg.departure),
                "cabin": cabin,
                "fare": fmt(leg.fare),
                "seatsAvailable": leg.seats,
            }
        return doc

    docs = []
    for it in itineraries:
        per_passenger = it.price_per_passenger
        docs.append(
            {
                "id": it.id,
                "stops": it.stops,
                "durationMinutes": it.duration_minutes,
                "layoverMinutes": it.layover_minutes,
                "seatsAvailable": it.seats_available,
                "price": {
                    "perPassenger": fmt(per_passenger),
                    "total": fmt(per_passenger * passengers),
                    "currency": CURRENCY,
                },
                "segments": [segment(leg) for leg in it.legs],
            }
        )
    return docs
