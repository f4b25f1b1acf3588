"""GET /api/flights/search: validate, answer from the cache, or compute and cache.

Computing an answer is one indexed query for the candidate first legs (from the origin on its
local date) and second legs (into the destination from the airports those reach, departing
within the connection window); `itineraries.build_itineraries` joins them in memory. The answer
is JSON bytes from end to end: written once, cached as is, and a hit sends the stored bytes.
"""

import contextlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from redis.exceptions import RedisError
from sqlalchemy import Select, any_, bindparam, func, select, union_all
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from flight_search_service.airports import AirportDirectory
from flight_search_service.cache import SearchCache
from flight_search_service.errors import InvalidSearch, UnknownAirport
from flight_search_service.itineraries import (
    Itinerary,
    Leg,
    SortKey,
    build_itineraries,
    itineraries_json,
    local_day_bounds,
    sort_itineraries,
)
from flight_search_service.models import SCHEDULED, Availability, Flight

log = logging.getLogger("flight_search_service.search")

Cabin = Literal["economy", "business"]
MAX_DAYS_AHEAD = 366
_CODE = re.compile(r"^[A-Za-z]{3}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


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
    body: bytes  # the response JSON
    cache: Literal["HIT", "MISS"]


@dataclass(frozen=True, slots=True)
class SearchRules:
    min_connection_minutes: int
    max_layover_minutes: int


Where = tuple[str | int, ...]


def _code(value: str, field: str, where: Where) -> str:
    if not _CODE.fullmatch(value):  # exactly what the OpenAPI document says: no spaces
        raise InvalidSearch(
            f"{field} must be a 3-letter IATA airport code, e.g. DEL",
            loc=(*where, field),
            type="airport_code",
        )
    return value.upper()


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
    where: Where = ("query",),
    date_field: str = "date",
) -> SearchQuery:
    """A validated, normalised query, or a 422 naming what is wrong (at `where`: the query
    string, or a multi-city slice in the body; the date under `date_field`)."""
    src, dst = _code(source, "source", where), _code(destination, "destination", where)
    if src == dst:
        raise InvalidSearch(
            "source and destination must be different airports",
            loc=(*where, "destination"),
            type="same_airport",
        )
    try:
        if not _DATE.fullmatch(day):
            raise ValueError
        when = date.fromisoformat(day)
    except ValueError:
        raise InvalidSearch(
            f"{date_field} must be a calendar date as YYYY-MM-DD, e.g. {now.date().isoformat()}",
            loc=(*where, date_field),
            type="date_format",
        ) from None
    origin = await airports.get(src)
    if origin is None:
        raise UnknownAirport(
            f"Unknown source airport {src!r}", loc=(*where, "source"), type="unknown_airport"
        )
    if await airports.get(dst) is None:
        raise UnknownAirport(
            f"Unknown destination airport {dst!r}",
            loc=(*where, "destination"),
            type="unknown_airport",
        )
    today = now.astimezone(origin.tz).date()
    if when < today:
        raise InvalidSearch(
            f"{date_field} {when.isoformat()} is in the past"
            f" (today at {src} is {today.isoformat()})",
            loc=(*where, date_field),
            type="date_in_past",
        )
    if when > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidSearch(
            f"{date_field} must be within {MAX_DAYS_AHEAD} days from today",
            loc=(*where, date_field),
            type="date_too_far",
        )
    return SearchQuery(src, dst, when, passengers, max_stops, sort, cabin, limit)


@lru_cache(maxsize=64)
def _candidates(cabin: Cabin, max_stops: int, min_connection: int, max_layover: int) -> Any:
    """One statement, one round trip: the first legs (from `:origin`, departing within
    [`:start`, `:end`)), then the second legs (into `:destination`, from the airports the first
    legs reach, departing within the connection window of their arrivals). Both use the
    (origin | destination, departure_utc) indexes; `build_itineraries` re-checks every rule.

    The connecting airports are one array (`= ANY(...)`), not an `IN (subquery)`: the prepared
    statement's generic plan estimates the first legs at one row, and with `IN` it then
    re-scanned them for every second leg."""
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
    )  # the fields of `Leg`, in order

    def legs(*where: Any) -> Select[*tuple[Any, ...]]:
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
    first_rows = select(*firsts.c)
    if max_stops < 1:
        return first_rows
    onward = firsts.c.destination != bindparam("destination")
    seconds = legs(
        Flight.destination == bindparam("destination"),
        Flight.origin
        == any_(func.array(select(firsts.c.destination).where(onward).scalar_subquery())),
        Flight.departure_utc
        >= select(func.min(firsts.c.arrival_utc)).where(onward).scalar_subquery()
        + timedelta(minutes=min_connection),
        Flight.departure_utc
        <= select(func.max(firsts.c.arrival_utc)).where(onward).scalar_subquery()
        + timedelta(minutes=max_layover),
    ).subquery("seconds")
    return union_all(first_rows, select(*seconds.c))


@lru_cache(maxsize=64)
def _candidates_sql(
    dialect: Dialect, cabin: Cabin, max_stops: int, min_connection: int, max_layover: int
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """`_candidates` compiled once for the driver: its SQL, the names of its positional
    parameters in order, and the values of its constants."""
    compiled = _candidates(cabin, max_stops, min_connection, max_layover).compile(dialect=dialect)
    if compiled.positiontup is None:
        raise ValueError(f"dialect {dialect.name} does not bind parameters by position")
    return compiled.string, tuple(compiled.positiontup), dict(compiled.params)


async def _candidate_legs(
    engine: AsyncEngine, query: SearchQuery, rules: SearchRules, params: dict[str, Any]
) -> Sequence[Any]:
    """The candidate rows, as the driver sends them (no ORM, no statement compiling). `engine`
    runs in autocommit: one statement needs no BEGIN/ROLLBACK around it."""
    sql, names, constants = _candidates_sql(
        engine.dialect,
        query.cabin,
        query.max_stops,
        rules.min_connection_minutes,
        rules.max_layover_minutes,
    )
    values = {**constants, **params}
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(sql, tuple(values[name] for name in names))
        return result.all()


async def find_itineraries(
    *,
    engine: AsyncEngine,
    airports: AirportDirectory,
    query: SearchQuery,
    rules: SearchRules,
    now: datetime,
) -> list[Itinerary]:
    """Every itinerary for the query, sorted (not limited)."""
    origin = await airports.get(query.source)
    if origin is None:  # `parse_query` refuses an unknown one first: kept for direct callers
        raise UnknownAirport(
            f"Unknown source airport {query.source!r}",
            loc=("query", "source"),
            type="unknown_airport",
        )
    start, end = local_day_bounds(query.day, origin.tz, margin=timedelta(0))
    params = {
        "origin": query.source,
        "destination": query.destination,
        "start": max(start, now),
        "end": end,
        "passengers": query.passengers,
    }
    firsts: list[Leg] = []
    seconds: list[Leg] = []
    for row in await _candidate_legs(engine, query, rules, params):
        # First legs leave the origin; second legs leave a connecting airport, never the
        # origin (a first leg does not land where it took off).
        (firsts if row[4] == query.source else seconds).append(Leg(*row))
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


def answer_json(
    query: SearchQuery, shown: list[Itinerary], *, total: int, airports: AirportDirectory
) -> bytes:
    """The response body: the itineraries, then what was asked (compact ASCII JSON)."""
    itineraries = itineraries_json(
        shown, passengers=query.passengers, cabin=query.cabin, tz_of=airports.tz_of
    )
    rest = json.dumps(
        {
            "count": len(shown),
            "total": total,
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
    return f'{{"itineraries":{itineraries},{rest[1:]}'.encode()


async def search(
    *,
    engine: AsyncEngine,
    airports: AirportDirectory,
    cache: SearchCache,
    query: SearchQuery,
    rules: SearchRules,
    now: datetime,
    use_cache: bool = True,
) -> SearchAnswer:
    """The answer to a validated query, from the cache when it holds a valid one.

    `engine` (autocommit) is used only on a miss: a hit touches no database connection.
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
        engine=engine, airports=airports, query=query, rules=rules, now=now
    )
    shown = found[: query.limit]
    body = answer_json(query, shown, total=len(found), airports=airports)
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
                flight_ids={leg.flight_id for it in shown for leg in it.legs},
                first_departure=min((it.departure for it in shown), default=None),
            )
    return SearchAnswer(body, "MISS")
