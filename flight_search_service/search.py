"""GET /api/flights/search: validate, answer from the cache, or compute and cache.

Computing an answer is two indexed queries: the candidate first legs (from the origin on its
local date) and the candidate second legs (into the destination from the airports those reach,
departing within the connection window); `itineraries.build_itineraries` joins them in memory.
"""

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from redis.exceptions import RedisError
from sqlalchemy import Select, bindparam, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from flight_search_service.airports import AirportDirectory
from flight_search_service.cache import SearchCache
from flight_search_service.errors import InvalidSearch, UnknownAirport
from flight_search_service.itineraries import (
    Itinerary,
    Leg,
    SortKey,
    build_itineraries,
    itinerary_documents,
    local_day_bounds,
    sort_itineraries,
)
from flight_search_service.models import SCHEDULED, Availability, Flight

log = logging.getLogger("flight_search_service.search")

Cabin = Literal["economy", "business"]
MAX_DAYS_AHEAD = 366
_CODE = re.compile(r"^[A-Za-z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    source: str
    destination: str
    day: date
    passengers: int
    max_stops: int
    sort: SortKey
    cabin: Cabin
    limit: int


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    body: str  # the response JSON
    cache: Literal["HIT", "MISS"]


@dataclass(frozen=True, slots=True)
class SearchRules:
    min_connection_minutes: int
    max_layover_minutes: int


def _code(value: str, field: str) -> str:
    if not _CODE.match(value.strip()):
        raise InvalidSearch(
            f"{field} must be a 3-letter IATA airport code, e.g. DEL",
            loc=("query", field),
            type="airport_code",
        )
    return value.strip().upper()


async def parse_query(
    *,
    airports: AirportDirectory,
    source: str,
    destination: str,
    day: str,
    passengers: int,
    max_stops: int,
    sort: SortKey,
    cabin: Cabin,
    limit: int,
    now: datetime,
) -> SearchQuery:
    """A validated, normalised query, or a 422 naming what is wrong."""
    src, dst = _code(source, "source"), _code(destination, "destination")
    if src == dst:
        raise InvalidSearch(
            "source and destination must be different airports",
            loc=("query", "destination"),
            type="same_airport",
        )
    try:
        if not _DATE.match(day.strip()):
            raise ValueError
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise InvalidSearch(
            f"date must be a calendar date as YYYY-MM-DD, e.g. {now.date().isoformat()}",
            loc=("query", "date"),
            type="date_format",
        ) from None
    origin = await airports.get(src)
    if origin is None:
        raise UnknownAirport(
            f"Unknown source airport {src!r}", loc=("query", "source"), type="unknown_airport"
        )
    if await airports.get(dst) is None:
        raise UnknownAirport(
            f"Unknown destination airport {dst!r}",
            loc=("query", "destination"),
            type="unknown_airport",
        )
    today = now.astimezone(origin.tz).date()
    if when < today:
        raise InvalidSearch(
            f"date {when.isoformat()} is in the past (today at {src} is {today.isoformat()})",
            loc=("query", "date"),
            type="date_in_past",
        )
    if when > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidSearch(
            f"date must be within {MAX_DAYS_AHEAD} days from today",
            loc=("query", "date"),
            type="date_too_far",
        )
    return SearchQuery(src, dst, when, passengers, max_stops, sort, cabin, limit)


@lru_cache(maxsize=64)
def _candidates(cabin: Cabin, max_stops: int, min_connection: int, max_layover: int) -> Any:
    """One statement, one round trip: the first legs (from `:origin`, departing within
    [`:start`, `:end`)) as leg 1, and the second legs (into `:destination`, from the airports
    the first legs reach, departing within the connection window of their arrivals) as leg 2.
    Both use the (origin | destination, departure_utc) indexes; `build_itineraries` re-checks
    every rule. Built once per shape, executed with parameters."""
    fare = Flight.fare_economy if cabin == "economy" else Flight.fare_business
    seats = Availability.seats_economy if cabin == "economy" else Availability.seats_business
    columns = (
        Flight.id,
        Flight.flight_number,
        Flight.airline_name,
        Flight.airline_code,
        Flight.origin,
        Flight.destination,
        Flight.departure_utc,
        Flight.arrival_utc,
        fare.label("fare"),
        seats.label("seats"),
    )

    def legs(*where: Any) -> Select:
        return (
            select(*columns)
            .join(Availability, Availability.flight_id == Flight.id)
            .where(
                Flight.status == SCHEDULED,
                fare.is_not(None),
                seats >= bindparam("passengers"),
                *where,
            )
        )

    firsts = legs(
        Flight.origin == bindparam("origin"),
        Flight.departure_utc >= bindparam("start"),
        Flight.departure_utc < bindparam("end"),
    ).cte("firsts")
    first_rows = select(literal(1).label("leg"), *firsts.c)
    if max_stops < 1:
        return first_rows
    onward = firsts.c.destination != bindparam("destination")
    seconds = legs(
        Flight.destination == bindparam("destination"),
        Flight.origin.in_(select(firsts.c.destination).where(onward)),
        Flight.departure_utc
        >= select(func.min(firsts.c.arrival_utc)).where(onward).scalar_subquery()
        + timedelta(minutes=min_connection),
        Flight.departure_utc
        <= select(func.max(firsts.c.arrival_utc)).where(onward).scalar_subquery()
        + timedelta(minutes=max_layover),
    ).subquery("seconds")
    return union_all(first_rows, select(literal(2).label("leg"), *seconds.c))


async def find_itineraries(
    *,
    session: AsyncSession,
    airports: AirportDirectory,
    query: SearchQuery,
    rules: SearchRules,
    now: datetime,
) -> list[Itinerary]:
    """Every itinerary for the query, sorted (not limited)."""
    origin = await airports.get(query.source)
    assert origin is not None
    start, end = local_day_bounds(query.day, origin.tz, margin=timedelta(hours=3))
    stmt = _candidates(
        query.cabin, query.max_stops, rules.min_connection_minutes, rules.max_layover_minutes
    )
    params = {
        "origin": query.source,
        "destination": query.destination,
        "start": max(start, now),
        "end": end,
        "passengers": query.passengers,
    }
    firsts: list[Leg] = []
    seconds: list[Leg] = []
    for leg, *row in await session.execute(stmt, params):
        (firsts if leg == 1 else seconds).append(Leg(*row))
    found = build_itineraries(
        first_legs=firsts,
        second_legs=seconds,
        origin=query.source,
        destination=query.destination,
        day=query.day,
        origin_tz=origin.tz,
        now=now,
        passengers=query.passengers,
        max_stops=query.max_stops,
        min_connection_minutes=rules.min_connection_minutes,
        max_layover_minutes=rules.max_layover_minutes,
    )
    await airports.ensure({leg.origin for leg in seconds})
    return sort_itineraries(found, query.sort)


async def search(
    *,
    session: AsyncSession,
    airports: AirportDirectory,
    cache: SearchCache,
    query: SearchQuery,
    rules: SearchRules,
    now: datetime,
    use_cache: bool = True,
) -> SearchAnswer:
    """The answer to a validated query, from the cache when it holds a valid one.

    `use_cache=False` (a client's `Cache-Control: no-cache`) skips the lookup; the fresh
    answer is stored all the same."""
    key = cache.entry_key(
        source=query.source,
        destination=query.destination,
        day=query.day.isoformat(),
        passengers=query.passengers,
        max_stops=query.max_stops,
        cabin=query.cabin,
        sort=query.sort,
        limit=query.limit,
    )
    if cache.enabled and use_cache:
        try:
            body = await cache.get(key, now=now)
        except RedisError:
            log.warning("search cache unavailable; answering from the database")
            body = None
        if body is not None:
            return SearchAnswer(body, "HIT")
    found = await find_itineraries(
        session=session, airports=airports, query=query, rules=rules, now=now
    )
    shown = found[: query.limit]
    docs = itinerary_documents(
        shown, passengers=query.passengers, cabin=query.cabin, tz_of=airports.tz_of
    )
    body = json.dumps(
        {
            "itineraries": docs,
            "count": len(docs),
            "total": len(found),
            "source": query.source,
            "destination": query.destination,
            "date": query.day.isoformat(),
            "passengers": query.passengers,
            "cabin": query.cabin,
            "maxStops": query.max_stops,
            "sort": query.sort,
        },
        separators=(",", ":"),
    )
    if cache.enabled:
        with contextlib.suppress(RedisError):
            await cache.put(
                key,
                body,
                now=now,
                source=query.source,
                destination=query.destination,
                passengers=query.passengers,
                cabin=query.cabin,
                flight_ids=(leg.flight_id for it in shown for leg in it.legs),
                first_departure=min((it.departure for it in shown), default=None),
            )
    return SearchAnswer(body, "MISS")
