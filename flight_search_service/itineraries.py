"""Building itineraries from candidate flights: pure functions, no I/O.

`build_itineraries()` re-checks every rule on whatever legs it is given, so the database
queries only have to return a superset of the useful legs; the property tests compare it with a
brute-force reference on random schedules.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from shared.money import CURRENCY

SortKey = Literal["price", "duration", "departure"]

_MINUTE = timedelta(minutes=1)
_CURRENCY = _json_str(CURRENCY)


class Leg(NamedTuple):
    """One flight as search sees it, with the fare and seats of the searched cabin (a tuple:
    made straight from a database row)."""

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
    return delta // _MINUTE


class Itinerary:
    """Legs flown in order. What sorting needs is computed up front; the rest only for the
    itineraries shown."""

    __slots__ = ("arrival", "departure", "duration_minutes", "legs", "price_per_passenger")

    def __init__(self, legs: tuple[Leg, ...]) -> None:
        self.legs = legs
        self.departure = legs[0].departure
        self.arrival = legs[-1].arrival
        self.duration_minutes = (self.arrival - self.departure) // _MINUTE
        price = legs[0].fare
        for leg in legs[1:]:
            price += leg.fare
        self.price_per_passenger = price

    @property
    def id(self) -> str:
        """Deterministic: the flight ids joined by "-" ("57", "12-57")."""
        return "-".join([str(leg.flight_id) for leg in self.legs])

    @property
    def stops(self) -> int:
        return len(self.legs) - 1

    @property
    def layover_minutes(self) -> int:
        return sum([_minutes(b.departure - a.arrival) for a, b in pairwise(self.legs)])

    @property
    def seats_available(self) -> int:
        return min([leg.seats for leg in self.legs])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Itinerary) and other.legs == self.legs

    def __hash__(self) -> int:
        return hash(self.legs)

    def __repr__(self) -> str:
        return f"Itinerary({self.id})"


def local_day_bounds(day: date, tz: ZoneInfo, *, margin: timedelta) -> tuple[datetime, datetime]:
    """UTC bounds that surely contain every instant of the local `day` (widened by `margin`).

    A local midnight in a DST gap or overlap has two readings (fold 0 and 1); the true start
    and end of the day lie between them, so the earlier start and the later end are taken.
    Callers re-check the local date."""

    def readings(d: date) -> tuple[datetime, datetime]:
        midnight = datetime.combine(d, time(0), tzinfo=tz)
        return midnight.astimezone(UTC), midnight.replace(fold=1).astimezone(UTC)

    start = min(readings(day))
    end = max(readings(day + timedelta(days=1)))
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


# Ties are broken last by the legs, which compare by flight id first (a flight's id decides
# its row): the order of the flight ids, without building them.
_SORT_KEYS: dict[str, Callable[[Itinerary], tuple[Any, ...]]] = {
    "price": lambda i: (i.price_per_passenger, i.duration_minutes, i.departure, i.legs),
    "duration": lambda i: (i.duration_minutes, i.price_per_passenger, i.departure, i.legs),
    "departure": lambda i: (i.departure, i.duration_minutes, i.price_per_passenger, i.legs),
}


def sort_itineraries(itineraries: Iterable[Itinerary], by: SortKey) -> list[Itinerary]:
    """Sorted by `by`, ties broken by the other keys and finally the flight ids."""
    return sorted(itineraries, key=_SORT_KEYS[by])


def itineraries_json(
    itineraries: Iterable[Itinerary],
    *,
    passengers: int,
    cabin: str,
    tz_of: Callable[[str], ZoneInfo],
) -> str:
    """The SPEC §3 itineraries as a JSON array (compact, ASCII, the keys in the documented
    order), local times with offsets at each airport. Written directly rather than through
    `json.dumps` of nested dicts: each segment is written once however many itineraries
    share it, and the rest is a few numbers per itinerary. Amounts are formatted without
    re-rounding: fares are NUMERIC(10,2), so they and their sums and multiples are exact at
    two places (what `shared.money.fmt` would print)."""
    cabin_json = _json_str(cabin)
    segments: dict[int, str] = {}

    def segment(leg: Leg) -> str:
        text = segments.get(leg.flight_id)
        if text is None:
            text = segments[leg.flight_id] = _segment_json(leg, cabin_json, tz_of)
        return text

    docs = []
    for it in itineraries:
        legs = it.legs
        price = it.price_per_passenger
        docs.append(
            f'{{"id":"{it.id}","stops":{len(legs) - 1},'
            f'"durationMinutes":{it.duration_minutes},"layoverMinutes":{it.layover_minutes},'
            f'"seatsAvailable":{it.seats_available},"price":{{"perPassenger":"{price:.2f}",'
            f'"total":"{price * passengers:.2f}","currency":{_CURRENCY}}},'
            f'"segments":[{",".join([segment(leg) for leg in legs])}]}}'
        )
    return f"[{','.join(docs)}]"


def _segment_json(leg: Leg, cabin_json: str, tz_of: Callable[[str], ZoneInfo]) -> str:
    departure = leg.departure.astimezone(tz_of(leg.origin)).isoformat()
    arrival = leg.arrival.astimezone(tz_of(leg.destination)).isoformat()
    return (
        f'{{"flightId":{leg.flight_id},"flightNumber":{_json_str(leg.flight_number)},'
        f'"airline":{_json_str(leg.airline)},"airlineCode":{_json_str(leg.airline_code)},'
        f'"source":{_json_str(leg.origin)},"destination":{_json_str(leg.destination)},'
        f'"departureTime":"{departure}","arrivalTime":"{arrival}",'
        f'"durationMinutes":{_minutes(leg.arrival - leg.departure)},"cabin":{cabin_json},'
        f'"fare":"{leg.fare:.2f}","seatsAvailable":{leg.seats}}}'
    )
