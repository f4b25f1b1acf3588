"""The flight catalog: flights, their documents, creation, cancellation, availability."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from redis.exceptions import RedisError
from sqlalchemy import Row, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from flight_search_service.aircraft import AIRCRAFT
from flight_search_service.airports import AirportDirectory, AirportInfo
from flight_search_service.cache import SearchCache, may_drop
from flight_search_service.errors import (
    FlightAlreadyCancelled,
    FlightDeparted,
    FlightExists,
    FlightNotFound,
    InvalidFlight,
)
from flight_search_service.models import (
    CANCELLED,
    AircraftType,
    Availability,
    Flight,
    outbox,
)
from flight_search_service.schedule import (
    AIRLINES,
    ScheduledFlight,
    block_minutes,
    haversine_km,
)
from shared.contracts.flights import (
    Aircraft,
    CabinLayout,
    Fares,
    FlightCancelled,
    FlightCreated,
    FlightDocument,
    FlightStatus,
)
from shared.db import autocommit
from shared.errors import ServiceUnavailable
from shared.events import publish, publish_many
from shared.money import CURRENCY

log = logging.getLogger("flight_search_service.service")

D = TypeVar("D", bound=FlightDocument)


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _fares(flight: Flight | Row[Any]) -> Fares:
    return Fares(economy=flight.fare_economy, business=flight.fare_business)


def _aircraft_doc(aircraft: AircraftType) -> Aircraft:
    cabins = [CabinLayout.model_validate(c) for c in aircraft.cabins]
    return Aircraft(code=aircraft.code, name=aircraft.name, cabins=cabins)


def internal_document(
    flight: Flight | Row[Any],
    aircraft: AircraftType,
    airports: AirportDirectory,
    contract: type[D],
) -> D:
    """The flight as other services see it (`FlightDocument` for GET /internal/flights/{id},
    `FlightCreated`): UTC times, plus local times and zones for display."""
    origin_tz, destination_tz = airports.tz_of(flight.origin), airports.tz_of(flight.destination)
    return contract(
        flight_id=flight.id,
        flight_number=flight.flight_number,
        airline=flight.airline_name,
        airline_code=flight.airline_code,
        origin=flight.origin,
        destination=flight.destination,
        departure_time=flight.departure_utc,
        arrival_time=flight.arrival_utc,
        departure_time_local=flight.departure_utc.astimezone(origin_tz),
        arrival_time_local=flight.arrival_utc.astimezone(destination_tz),
        origin_time_zone=origin_tz.key,
        destination_time_zone=destination_tz.key,
        duration_minutes=_minutes(flight.arrival_utc - flight.departure_utc),
        status=cast(FlightStatus, flight.status),  # the table's check constraint
        aircraft=_aircraft_doc(aircraft),
        fares=_fares(flight),
        currency=CURRENCY,
    )


def public_document(
    flight: Flight,
    aircraft: AircraftType,
    availability: Availability | None,
    airports: AirportDirectory,
) -> dict[str, Any]:
    """GET /api/flights/{id}: local times at each airport, fares and seats left."""
    origin_tz, destination_tz = airports.tz_of(flight.origin), airports.tz_of(flight.destination)
    seats = (
        {"economy": availability.seats_economy, "business": availability.seats_business}
        if availability is not None
        else {"economy": aircraft.seats_economy, "business": aircraft.seats_business}
    )
    return {
        "id": flight.id,
        "flightId": flight.id,
        "flightNumber": flight.flight_number,
        "airline": flight.airline_name,
        "airlineCode": flight.airline_code,
        "source": flight.origin,
        "destination": flight.destination,
        "departureTime": flight.departure_utc.astimezone(origin_tz).isoformat(),
        "arrivalTime": flight.arrival_utc.astimezone(destination_tz).isoformat(),
        "durationMinutes": _minutes(flight.arrival_utc - flight.departure_utc),
        "status": flight.status,
        "aircraft": _aircraft_doc(aircraft),
        "fares": _fares(flight),
        "currency": CURRENCY,
        "seatsAvailable": seats["economy"] + seats["business"],
        "seatsByCabin": seats,
    }


@dataclass(frozen=True)
class FlightRecord:
    flight: Flight
    aircraft: AircraftType
    availability: Availability | None


async def get_flight(*, session: AsyncSession, flight_id: int) -> FlightRecord:
    """One flight with its aircraft and availability, or `FlightNotFound`."""
    row = (
        await session.execute(
            select(Flight, AircraftType, Availability)
            .join(AircraftType, AircraftType.code == Flight.aircraft_code)
            .outerjoin(Availability, Availability.flight_id == Flight.id)
            .where(Flight.id == flight_id)
        )
    ).first()
    if row is None:
        raise FlightNotFound(f"Flight {flight_id} does not exist")
    return FlightRecord(*row)


async def get_flights(*, session: AsyncSession, flight_ids: Sequence[int]) -> list[FlightRecord]:
    """The flights that exist among `flight_ids`, in the order asked."""
    rows = (
        await session.execute(
            select(Flight, AircraftType, Availability)
            .join(AircraftType, AircraftType.code == Flight.aircraft_code)
            .outerjoin(Availability, Availability.flight_id == Flight.id)
            .where(Flight.id.in_(set(flight_ids)))
        )
    ).all()
    by_id = {r[0].id: FlightRecord(*r) for r in rows}
    return [by_id[i] for i in dict.fromkeys(flight_ids) if i in by_id]


async def insert_flights(
    *,
    session: AsyncSession,
    flights: Sequence[ScheduledFlight],
    airports: AirportDirectory,
    events: bool = True,
) -> list[int]:
    """Insert the flights that do not exist yet (same number and departure), with their
    availability (the aircraft's capacity) and, if `events`, one `flight.created` each.
    Returns the new ids. In the caller's transaction."""
    aircraft = {a.code: a for a in (await session.scalars(select(AircraftType))).all()}
    await airports.ensure({f.origin for f in flights} | {f.destination for f in flights})
    new_ids: list[int] = []
    table = cast(Table, Flight.__table__)
    stmt = (
        pg_insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.flight_number, table.c.departure_utc])
        .returning(*table.c)
    )
    for i in range(0, len(flights), 1000):
        # executemany ("insertmanyvalues"): compiled once, RETURNING only the new rows.
        created = (await session.execute(stmt, [f.row() for f in flights[i : i + 1000]])).all()
        if not created:
            continue
        await session.execute(
            insert(Availability),
            [
                {
                    "flight_id": f.id,
                    "seats_economy": aircraft[f.aircraft_code].seats_economy,
                    "seats_business": aircraft[f.aircraft_code].seats_business,
                    "seats_available": aircraft[f.aircraft_code].seats_economy
                    + aircraft[f.aircraft_code].seats_business,
                    "version": 0,
                }
                for f in created
            ],
        )
        if events:  # the seed writes thousands: one statement per chunk
            await publish_many(
                session,
                outbox,
                [
                    internal_document(f, aircraft[f.aircraft_code], airports, FlightCreated)
                    for f in created
                ],
            )
        new_ids.extend(f.id for f in created)
    return new_ids


@dataclass(frozen=True)
class NewFlight:
    flight_number: str
    airline_code: str | None
    airline_name: str | None
    origin: str
    destination: str
    departure: datetime
    arrival: datetime | None
    aircraft: str
    fare_economy: Decimal
    fare_business: Decimal | None


async def create_flight(
    *,
    session: AsyncSession,
    airports: AirportDirectory,
    cache: SearchCache,
    data: NewFlight,
    now: datetime,
) -> FlightRecord:
    """Create one flight (admin); publishes `flight.created` in the same transaction."""
    origin = await _known_airport(airports=airports, code=data.origin, field="origin")
    destination = await _known_airport(
        airports=airports, code=data.destination, field="destination"
    )
    async with session.begin():
        aircraft = await _known_aircraft(session=session, code=data.aircraft)
        flight = _scheduled(
            data, origin=origin, destination=destination, aircraft=aircraft, now=now
        )
        ids = await insert_flights(session=session, flights=[flight], airports=airports)
        if not ids:
            raise FlightExists(
                f"Flight {data.flight_number} departing {data.departure.isoformat()} already exists"
            )
    try:
        await cache.invalidate_airports(source=origin.code, destination=destination.code)
    except RedisError:
        # A cached answer without the new flight is incomplete, not wrong; it expires soon.
        log.warning("search cache: could not drop answers for new flight %s", ids[0])
    async with autocommit(session):
        return await get_flight(session=session, flight_id=ids[0])


def _scheduled(
    data: NewFlight,
    *,
    origin: AirportInfo,
    destination: AirportInfo,
    aircraft: AircraftType,
    now: datetime,
) -> ScheduledFlight:
    """The new flight as the schedule has it, checked (the admin's mistakes are 422s)."""
    if data.departure <= now:
        raise InvalidFlight("departureTime must be in the future", loc=("body", "departureTime"))
    arrival = data.arrival
    if arrival is None:
        km = haversine_km(origin.lat, origin.lon, destination.lat, destination.lon)
        arrival = data.departure + timedelta(minutes=block_minutes(km))
    if aircraft.seats_business and data.fare_business is None:
        raise InvalidFlight(
            f"fares.business is required: the {aircraft.code} has a business cabin",
            loc=("body", "fares", "business"),
        )
    airline_code = data.airline_code or data.flight_number[:2]
    return ScheduledFlight(
        flight_number=data.flight_number,
        airline_code=airline_code,
        airline_name=data.airline_name or AIRLINES.get(airline_code, airline_code),
        origin=origin.code,
        destination=destination.code,
        departure_utc=data.departure,
        arrival_utc=arrival,
        aircraft_code=aircraft.code,
        fare_economy=data.fare_economy,
        fare_business=data.fare_business if aircraft.seats_business else None,
    )


async def _known_airport(*, airports: AirportDirectory, code: str, field: str) -> AirportInfo:
    """The airport of a new flight's `field`; an unknown code is the admin's mistake (422)."""
    found = await airports.get(code)
    if found is None:
        raise InvalidFlight(f"Unknown airport code {code!r}", loc=("body", field))
    return found


async def _known_aircraft(*, session: AsyncSession, code: str) -> AircraftType:
    """The aircraft of a new flight; an unknown one is refused, naming those known (422)."""
    aircraft = await session.get(AircraftType, code)
    if aircraft is None:
        known = ", ".join(sorted(AIRCRAFT))
        raise InvalidFlight(f"Unknown aircraft {code!r} (known: {known})", loc=("body", "aircraft"))
    return aircraft


async def cancel_flight(
    *, session: AsyncSession, cache: SearchCache, flight_id: int, now: datetime
) -> FlightRecord:
    """Cancel a scheduled flight (admin): publishes `flight.cancelled`, drops cached results
    that show it. Cancelling twice, or a departed flight: 409."""
    async with session.begin():
        flight = (
            await session.scalars(select(Flight).where(Flight.id == flight_id).with_for_update())
        ).first()
        if flight is None:
            raise FlightNotFound(f"Flight {flight_id} does not exist")
        if flight.status == CANCELLED:
            raise FlightAlreadyCancelled(f"Flight {flight_id} is already cancelled")
        if flight.departure_utc <= now:
            raise FlightDeparted(f"Flight {flight_id} has already departed")
        flight.status = CANCELLED
        flight.cancelled_at = now
        await publish(
            session,
            outbox,
            FlightCancelled(
                flight_id=flight.id,
                flight_number=flight.flight_number,
                departure_time=flight.departure_utc,
                origin=flight.origin,
                destination=flight.destination,
            ),
        )
        # Drop the cached answers before committing: the per-flight state written first makes
        # any answer computed from the not-yet-cancelled row refuse to be cached. If Redis
        # cannot be told, the cancellation does not happen (503) rather than leave answers
        # that are wrong.
        try:
            await cache.invalidate_flight(flight_id, economy=0, business=0)
        except RedisError as exc:
            raise ServiceUnavailable(
                "Search cache unavailable; the flight was not cancelled"
            ) from exc
    async with autocommit(session):
        return await get_flight(session=session, flight_id=flight_id)


def _availability_update(version_guard: str | None) -> Any:
    """UPDATE of one flight's seats, built once per kind of version guard (None: unguarded,
    "<": only a newer version applies, "<=": the same version applies too). It returns the
    capacity of the flight's cabins (immutable, so no race with other updates)."""
    av = cast(Table, Availability.__table__)
    flights = cast(Table, Flight.__table__)
    aircraft = cast(Table, AircraftType.__table__)
    stmt = (
        update(av)
        .where(
            av.c.flight_id == bindparam("b_flight_id"),
            flights.c.id == av.c.flight_id,
            aircraft.c.code == flights.c.aircraft_code,
        )
        .values(
            seats_economy=bindparam("b_economy"),
            seats_business=bindparam("b_business"),
            seats_available=bindparam("b_total"),
            updated_at=func.now(),
        )
        .returning(aircraft.c.seats_economy, aircraft.c.seats_business)
    )
    if version_guard is None:
        return stmt
    newer = av.c.version < bindparam("b_version")
    if version_guard == "<=":
        newer = av.c.version <= bindparam("b_version")
    return stmt.where(newer).values(version=bindparam("b_version"))


_APPLY_AVAILABILITY = {guard: _availability_update(guard) for guard in (None, "<", "<=")}


async def apply_availability(
    *,
    session: AsyncSession,
    cache: SearchCache,
    flight_id: int,
    economy: int,
    business: int,
    version: int | None,
    inclusive: bool = False,
) -> bool:
    """Record seats left from a seat-service event unless a newer one was applied already
    (`version`; None applies unconditionally). Drops the cached results that needed more seats
    than are left. Returns whether it applied.

    Runs for every seats event: one prebuilt Core statement on the session's connection (no
    ORM bulk-update bookkeeping). The cache is touched only when a cabin is down to fewer
    seats than a cached answer may have needed (`may_drop`): most sales leave plenty."""
    economy, business = max(0, economy), max(0, business)
    guard = None if version is None else "<=" if inclusive else "<"
    params = {
        "b_flight_id": flight_id,
        "b_economy": economy,
        "b_business": business,
        "b_total": economy + business,
        "b_version": version,
    }
    conn = await session.connection()
    capacity = (await conn.execute(_APPLY_AVAILABILITY[guard], params)).first()
    if capacity is None:
        return False
    if may_drop(economy=economy, business=business, capacity=(capacity[0], capacity[1])):
        await cache.invalidate_flight(flight_id, economy=economy, business=business)
    return True
