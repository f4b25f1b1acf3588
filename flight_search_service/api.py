"""Routes: thin handlers (parse -> service layer -> schema)."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from flight_search_service import airports as airports_service
from flight_search_service import journeys, service
from flight_search_service import search as search_service
from flight_search_service.cache import MAX_PASSENGERS
from flight_search_service.deps import ContextDep, NowDep
from flight_search_service.errors import InvalidSearch
from flight_search_service.itineraries import SortKey
from flight_search_service.schemas import (
    AirportList,
    FlightCreate,
    FlightOut,
    MultiSearchRequest,
    MultiSearchResponse,
    RoundTripResponse,
)
from shared import clock
from shared.contracts.flights import CabinName, FlightDocument, FlightDocuments
from shared.db import ReadSessionDep, SessionDep
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.security import AdminUser, CurrentUser
from shared.service_identity import internal_caller

MAX_ID = BIGINT_MAX
FlightId = Annotated[int, Path(ge=1, le=MAX_ID, description="Flight id")]
# The search's parameters are checked by `search.parse_query` (INVALID_SEARCH, naming the
# parameter); the document says what it accepts. An IATA code in any case ("DEL", "del"): the
# answer spells it in capitals.
IATA: dict[str, Any] = {"pattern": "^[A-Za-z]{3}$"}
# SEARCH_MAX_LIMIT's default: the documented bound (a smaller setting is enforced too).
SEARCH_LIMIT_MAX = 1000
_NO_FLIGHT = (404, "No such flight (FLIGHT_NOT_FOUND)")
_X_CACHE = {
    "X-Cache": {
        "description": "Served from the search cache (every slice) or not",
        "schema": {"type": "string", "enum": ["HIT", "MISS"]},
    }
}
_DATE: dict[str, Any] = {"format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}

router = APIRouter(tags=["flights"])
internal = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=True)
# Flight documents: the booking service (fares, times) and the seat service (layouts).
FlightReader = Annotated[str, internal_caller("booking", "seat")]


@router.get(
    "/api/flights/search",
    response_model=RoundTripResponse,
    summary="Direct and one-stop itineraries, one way or round trip",
    responses={
        200: {"headers": _X_CACHE},
        **problems(
            (
                422,
                "Invalid query (VALIDATION_FAILED); the same airport twice, a date in the past or "
                "over a year ahead (INVALID_SEARCH); an unknown airport (UNKNOWN_AIRPORT); "
                "returnDate before date (DATES_OUT_OF_ORDER)",
            )
        ),
    },
)
async def search_flights(
    _user: CurrentUser,
    ctx: ContextDep,
    source: Annotated[
        str, Query(json_schema_extra=IATA, description="IATA code of the origin, e.g. DEL")
    ],
    destination: Annotated[
        str, Query(json_schema_extra=IATA, description="IATA code of the destination, e.g. BOM")
    ],
    date: Annotated[
        str,
        Query(json_schema_extra=_DATE, description="Departure date (YYYY-MM-DD), local at source"),
    ],
    passengers: Annotated[int, Query(ge=1, le=MAX_PASSENGERS)] = 1,
    max_stops: Annotated[int, Query(alias="maxStops", ge=0, le=1)] = 1,
    sort: SortKey = "price",
    cabin: CabinName = "economy",
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            json_schema_extra={"maximum": SEARCH_LIMIT_MAX},
            description="Most itineraries to return",
        ),
    ] = None,
    return_date: Annotated[
        str | None,
        Query(
            alias="returnDate",
            json_schema_extra=_DATE,
            description="Round trip: destination -> source on this date (not before date)",
        ),
    ] = None,
    cache_control: Annotated[str | None, Header()] = None,
) -> Response:
    _check_limit(ctx, limit)
    searcher = _searcher(ctx, cache_control)
    query = await search_service.parse_query(
        airports=ctx.airports,
        source=source,
        destination=destination,
        day=date,
        passengers=passengers,
        max_stops=max_stops,
        sort=sort,
        cabin=cabin,
        limit=limit or ctx.settings.search_default_limit,
        now=searcher.now,
    )
    if return_date is None:
        answer = await searcher.one_way(query)
    else:
        back = await journeys.parse_return(
            airports=ctx.airports, outbound=query, day=return_date, now=searcher.now
        )
        answer = await journeys.round_trip(searcher, query, back)
    return Response(answer.body, media_type="application/json", headers={"X-Cache": answer.cache})


def _check_limit(ctx: ContextDep, limit: int | None) -> None:
    """`limit` within the configured maximum (the schema's is the largest one allowed)."""
    if limit is not None and limit > ctx.settings.search_max_limit:
        raise InvalidSearch(
            f"limit must be at most {ctx.settings.search_max_limit}",
            loc=("query", "limit"),
            type="less_than_equal",
        )


def _searcher(ctx: ContextDep, cache_control: str | None) -> journeys.Searcher:
    """One-way search bound to this request (`Cache-Control: no-cache` skips the lookup)."""
    return journeys.Searcher(
        engine=ctx.reads,
        airports=ctx.airports,
        cache=ctx.cache,
        rules=ctx.rules,
        now=clock.utcnow(),
        use_cache="no-cache" not in (cache_control or "").lower(),
    )


@router.post(
    "/api/flights/search/multi",
    response_model=MultiSearchResponse,
    summary="Multi-city: a one-way search per slice",
    responses={
        200: {"headers": _X_CACHE},
        **problems(
            (
                422,
                "Invalid body, fewer than 2 or more than 6 slices (VALIDATION_FAILED); a slice "
                "with the same airport twice, a date in the past or over a year ahead "
                "(INVALID_SEARCH) or an unknown airport (UNKNOWN_AIRPORT); a slice dated before "
                "the one before it (DATES_OUT_OF_ORDER)",
            )
        ),
    },
)
async def search_multi_city(
    body: MultiSearchRequest,
    _user: CurrentUser,
    ctx: ContextDep,
    cache_control: Annotated[str | None, Header()] = None,
) -> Response:
    searcher = _searcher(ctx, cache_control)
    queries = await journeys.parse_slices(
        airports=ctx.airports,
        slices=[journeys.Slice(s.source, s.destination, s.date) for s in body.slices],
        passengers=body.passengers,
        max_stops=body.max_stops,
        cabin=body.cabin,
        sort=body.sort,
        limit=ctx.settings.search_default_limit,
        now=searcher.now,
    )
    answer = await journeys.multi_city(searcher, queries)
    return Response(answer.body, media_type="application/json", headers={"X-Cache": answer.cache})


@router.get("/api/airports", response_model=AirportList, summary="Airports by code or city")
async def list_airports(
    _user: CurrentUser,
    session: ReadSessionDep,
    ctx: ContextDep,
    q: Annotated[str, Query(min_length=1, max_length=60, description="Code or city prefix")],
    limit: Annotated[int, Query(ge=1)] = 10,
) -> dict[str, Any]:
    found = await airports_service.search_airports(
        session=session, q=q, limit=min(limit, ctx.settings.airports_max_limit)
    )
    return {"airports": [a.document() for a in found], "count": len(found)}


@router.get(
    "/api/flights/{flight_id:id}",
    response_model=FlightOut,
    summary="One flight",
    responses=problems(_NO_FLIGHT),
)
async def read_flight(
    flight_id: FlightId, _user: CurrentUser, session: ReadSessionDep, ctx: ContextDep
) -> dict[str, Any]:
    record = await service.get_flight(session=session, flight_id=flight_id)
    await ctx.airports.ensure({record.flight.origin, record.flight.destination})
    return service.public_document(
        record.flight, record.aircraft, record.availability, ctx.airports
    )


@router.post(
    "/api/flights",
    response_model=FlightOut,
    status_code=201,
    summary="Create a flight (admin)",
    responses=problems(
        (409, "The flight exists (FLIGHT_EXISTS)"),
        (422, "Invalid body (VALIDATION_FAILED), unknown airport or aircraft (INVALID_FLIGHT)"),
    ),
)
async def create_flight(
    body: FlightCreate,
    _admin: AdminUser,
    session: SessionDep,
    ctx: ContextDep,
    now: NowDep,
) -> dict[str, Any]:
    record = await service.create_flight(
        session=session,
        airports=ctx.airports,
        cache=ctx.cache,
        now=now,
        data=service.NewFlight(
            flight_number=body.flight_number,
            airline_code=body.airline_code,
            airline_name=body.airline,
            origin=body.origin,
            destination=body.destination,
            departure=body.departure_time,
            arrival=body.arrival_time,
            aircraft=body.aircraft,
            fare_economy=body.fares.economy,
            fare_business=body.fares.business,
        ),
    )
    ctx.relay.wake()
    return service.public_document(
        record.flight, record.aircraft, record.availability, ctx.airports
    )


@router.post(
    "/api/flights/{flight_id:id}/cancel",
    response_model=FlightOut,
    summary="Cancel a flight (admin)",
    responses=problems(
        _NO_FLIGHT, (409, "Cancelled or departed (FLIGHT_ALREADY_CANCELLED, FLIGHT_DEPARTED)")
    ),
)
async def cancel_flight(
    flight_id: FlightId,
    _admin: AdminUser,
    session: SessionDep,
    ctx: ContextDep,
    now: NowDep,
) -> dict[str, Any]:
    record = await service.cancel_flight(
        session=session, cache=ctx.cache, flight_id=flight_id, now=now
    )
    ctx.relay.wake()
    await ctx.airports.ensure({record.flight.origin, record.flight.destination})
    return service.public_document(
        record.flight, record.aircraft, record.availability, ctx.airports
    )


@internal.get("/flights/{flight_id}", response_model=FlightDocument, summary="One flight")
async def internal_flight(
    flight_id: FlightId, _service: FlightReader, session: ReadSessionDep, ctx: ContextDep
) -> FlightDocument:
    record = await service.get_flight(session=session, flight_id=flight_id)
    await ctx.airports.ensure({record.flight.origin, record.flight.destination})
    return service.internal_document(record.flight, record.aircraft, ctx.airports, FlightDocument)


@internal.get("/flights", response_model=FlightDocuments, summary="Several flights")
async def internal_flights(
    _service: FlightReader,
    session: ReadSessionDep,
    ctx: ContextDep,
    ids: Annotated[str, Query(description="Comma-separated flight ids, at most 200")],
) -> FlightDocuments:
    try:
        wanted = [int(part) for part in ids.split(",") if part.strip()]
    except ValueError:
        raise InvalidSearch(
            "ids must be comma-separated integers", loc=("query", "ids"), type="int_parsing"
        ) from None
    if not wanted or len(wanted) > 200 or any(not 1 <= i <= MAX_ID for i in wanted):
        raise InvalidSearch(
            "ids must name 1 to 200 flight ids", loc=("query", "ids"), type="value_error"
        )
    records = await service.get_flights(session=session, flight_ids=wanted)
    await ctx.airports.ensure(
        {r.flight.origin for r in records} | {r.flight.destination for r in records}
    )
    found = {r.flight.id for r in records}
    return FlightDocuments(
        flights=[
            service.internal_document(r.flight, r.aircraft, ctx.airports, FlightDocument)
            for r in records
        ],
        missing=[i for i in dict.fromkeys(wanted) if i not in found],
    )
