"""Round trips and multi-city searches: one one-way search per slice, nothing else.

Each slice is answered by `search.search`, so it is cached under the one-way key and the
one-way invalidation rules (never wrong, never a second cache to keep right). The combined
answer is spliced from the one-way answers' bytes: a hit is sent without being parsed.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from flight_search_service.airports import AirportDirectory
from flight_search_service.cache import SearchCache
from flight_search_service.errors import DatesOutOfOrder
from flight_search_service.itineraries import SortKey
from flight_search_service.search import (
    Cabin,
    SearchAnswer,
    SearchQuery,
    SearchRules,
    Where,
    parse_query,
    search,
)

# Slices of a multi-city search: a round trip is two, more than six is not a journey.
MIN_SLICES, MAX_SLICES = 2, 6
# What follows the itineraries in a one-way answer (`search.answer_json`): never inside them.
_AFTER_ITINERARIES = b',"count":'


@dataclass(frozen=True, slots=True)
class Searcher:
    """What answering a one-way query needs, bound once per request."""

    engine: AsyncEngine
    airports: AirportDirectory
    cache: SearchCache
    rules: SearchRules
    now: datetime
    use_cache: bool = True

    async def one_way(self, query: SearchQuery) -> SearchAnswer:
        return await search(
            engine=self.engine,
            airports=self.airports,
            cache=self.cache,
            query=query,
            rules=self.rules,
            now=self.now,
            use_cache=self.use_cache,
        )


def _cache_of(answers: Sequence[SearchAnswer]) -> Literal["HIT", "MISS"]:
    return "HIT" if all(a.cache == "HIT" for a in answers) else "MISS"


async def parse_return(
    *, airports: AirportDirectory, outbound: SearchQuery, day: str, now: datetime
) -> SearchQuery:
    """The way back: destination -> source on `day`, the outbound's other rules; a 422
    (DATES_OUT_OF_ORDER) when it is before the outbound date."""
    back = await parse_query(
        airports=airports,
        source=outbound.destination,
        destination=outbound.source,
        day=day,
        passengers=outbound.passengers,
        max_stops=outbound.max_stops,
        sort=outbound.sort,
        cabin=outbound.cabin,
        limit=outbound.limit,
        now=now,
        date_field="returnDate",
    )
    if back.day < outbound.day:
        raise DatesOutOfOrder(
            f"returnDate {back.day.isoformat()} is before date {outbound.day.isoformat()}",
            loc=("query", "returnDate"),
            type="date_order",
        )
    return back


async def round_trip(searcher: Searcher, outbound: SearchQuery, back: SearchQuery) -> SearchAnswer:
    """The outbound answer with the way back's added: `returnItineraries`, `returnCount`,
    `returnTotal` and `returnDate`."""
    there, home = await searcher.one_way(outbound), await searcher.one_way(back)
    cut = home.body.rindex(_AFTER_ITINERARIES)
    itineraries = home.body[len(b'{"itineraries":') : cut]
    rest = json.loads(b"{" + home.body[cut + 1 :])  # what was asked: small, parsed
    extra = b',"returnItineraries":%s,"returnCount":%d,"returnTotal":%d,"returnDate":"%s"}' % (
        itineraries,
        rest["count"],
        rest["total"],
        rest["date"].encode(),
    )
    return SearchAnswer(there.body[:-1] + extra, _cache_of((there, home)))


@dataclass(frozen=True, slots=True)
class Slice:
    source: str
    destination: str
    date: str


async def parse_slices(
    *,
    airports: AirportDirectory,
    slices: Sequence[Slice],
    passengers: int,
    max_stops: int,
    cabin: Cabin,
    sort: SortKey,
    limit: int,
    now: datetime,
) -> list[SearchQuery]:
    """One validated one-way query per slice, all with the same passengers, cabin, stops,
    sort and limit; a 422 naming the slice when one is invalid or dated before the one before."""
    queries: list[SearchQuery] = []
    for index, part in enumerate(slices):
        where: Where = ("body", "slices", index)
        query = await parse_query(
            airports=airports,
            source=part.source,
            destination=part.destination,
            day=part.date,
            passengers=passengers,
            max_stops=max_stops,
            sort=sort,
            cabin=cabin,
            limit=limit,
            now=now,
            where=where,
        )
        if queries and query.day < queries[-1].day:
            raise DatesOutOfOrder(
                f"slice {index + 1} is on {query.day.isoformat()}, before slice {index}"
                f" on {queries[-1].day.isoformat()}",
                loc=(*where, "date"),
                type="date_order",
            )
        queries.append(query)
    return queries


async def multi_city(searcher: Searcher, queries: Sequence[SearchQuery]) -> SearchAnswer:
    """`{"slices": [<one-way answer>, ...]}`: each slice exactly its one-way search's answer."""
    answers = [await searcher.one_way(query) for query in queries]
    body = b'{"slices":[' + b",".join(a.body for a in answers) + b"]}"
    return SearchAnswer(body, _cache_of(answers))
