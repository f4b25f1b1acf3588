"""The flights this service knows: from `flight.created` / `flight.cancelled`, or fetched from
the flight search service the first time a flight is asked for.

Holds and seat maps read a flight through `FlightDirectory`: a per-process cache of what they
need (layout, departure, status), kept `flight_cache_seconds`. A cancellation needs no cache to
be seen at once: the consumer also marks it in the flight's Redis sold set, which the hold
script checks (see `holds.py`), and cancellation is final.
"""

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from seat_service.errors import FlightNotFound
from seat_service.holds import HoldStore
from seat_service.layout import SeatLayout, seat_layout
from seat_service.models import Flight
from seat_service.pg import connect
from shared.contracts.flights import CANCELLED, FlightCancelled, FlightCreated, FlightDocument
from shared.db import Database
from shared.errors import BadGateway
from shared.events import BatchHandler, Event, Handler
from shared.http import ServiceClient
from shared.upstream import parse_answer, upstream_error

log = logging.getLogger("seat_service.flights")

# Rows per INSERT of a batch upsert (11 parameters a row; Postgres allows 32767).
_UPSERT_CHUNK = 500


def flight_values(document: FlightDocument) -> dict[str, Any]:
    """A flight document (`flight.created`, GET /internal/flights/{id}) -> `flights` columns.

    Raises ValueError when its aircraft has no seats or a layout that does not add up."""
    layout = document.aircraft.model_dump(mode="json", by_alias=True)
    seats = seat_layout(layout)
    if seats.total == 0:
        raise ValueError("aircraft has no seats")
    return {
        "flight_id": document.flight_id,
        "flight_number": document.flight_number[:16],
        "airline": document.airline,
        "origin": document.origin,
        "destination": document.destination,
        "departure_utc": document.departure_time,
        "arrival_utc": document.arrival_time,
        "status": document.status,
        "layout": layout,
        "capacity": dict(seats.capacity),
        "total_seats": seats.total,
    }


async def upsert_flights(
    *, session: AsyncSession, documents: Sequence[FlightDocument]
) -> list[int]:
    """Insert or refresh flights from their documents, in the caller's transaction; the ids.

    The availability version is never reset, and a cancellation is final: a stale document
    cannot bring a cancelled flight back. A flight given twice keeps its last document."""
    rows = list({v["flight_id"]: v for v in map(flight_values, documents)}.values())
    for start in range(0, len(rows), _UPSERT_CHUNK):
        stmt = pg_insert(Flight).values(rows[start : start + _UPSERT_CHUNK])
        excluded = stmt.excluded
        updates = {
            name: getattr(excluded, name) for name in rows[0] if name not in ("flight_id", "status")
        }
        updates["status"] = case((Flight.status == CANCELLED, Flight.status), else_=excluded.status)
        updates["updated_at"] = func.now()
        await session.execute(
            stmt.on_conflict_do_update(index_elements=[Flight.flight_id], set_=updates)
        )
    return [row["flight_id"] for row in rows]


async def upsert_flight(*, session: AsyncSession, document: FlightDocument) -> int:
    """One flight (see `upsert_flights`), in the caller's transaction."""
    (flight_id,) = await upsert_flights(session=session, documents=[document])
    return flight_id


async def mark_cancelled(*, session: AsyncSession, cancelled: FlightCancelled) -> int:
    """Record a cancellation (`flight.cancelled`); holds are refused from then on.

    A flight never seen is remembered as cancelled, with no seats, so a stale fetch later
    cannot bring it back."""
    stmt = pg_insert(Flight).values(
        flight_id=cancelled.flight_id,
        flight_number=cancelled.flight_number[:16],
        origin=cancelled.origin,
        destination=cancelled.destination,
        departure_utc=cancelled.departure_time,
        status=CANCELLED,
        layout={"code": None, "name": None, "cabins": []},
        capacity={},
        total_seats=0,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Flight.flight_id],
            set_={"status": CANCELLED, "updated_at": func.now()},
        )
    )
    return cancelled.flight_id


async def fetch_flight_document(*, flights: ServiceClient, flight_id: int) -> FlightDocument:
    """GET /internal/flights/{id} from the flight search service: a usable flight, or why not."""
    response = await flights.get(f"/internal/flights/{flight_id}")
    if response.status_code == 404:
        raise FlightNotFound(f"Flight {flight_id} does not exist")
    if response.status_code != 200:
        raise upstream_error(response, service="flight-search")
    document = parse_answer(response, FlightDocument, service="flight-search")
    if document.flight_id != flight_id:
        raise BadGateway("flight-search service sent another flight")
    try:
        flight_values(document)
    except ValueError as exc:
        raise BadGateway("flight-search service sent an unusable flight") from exc
    return document


async def find_flight(*, session: AsyncSession, flight_id: int) -> Flight | None:
    return (
        await session.execute(
            select(Flight)
            .where(Flight.flight_id == flight_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def load_flight(*, session: AsyncSession, flights: ServiceClient, flight_id: int) -> Flight:
    """The flight, fetched from the flight search service (and kept) if not known yet."""
    async with session.begin():
        flight = await find_flight(session=session, flight_id=flight_id)
    if flight is not None:
        return flight
    document = await fetch_flight_document(flights=flights, flight_id=flight_id)
    async with session.begin():
        await upsert_flight(session=session, document=document)
        flight = await find_flight(session=session, flight_id=flight_id)
    if flight is None:  # deleted as soon as stored (a flight is never deleted today)
        raise FlightNotFound(f"Flight {flight_id} does not exist")
    log.info("flight %s fetched from flight search", flight_id)
    return flight


# What holds and seat maps read ------------------------------------------------------------
@dataclass(frozen=True)
class FlightInfo:
    flight_id: int
    flight_number: str
    departure_utc: datetime
    status: str
    aircraft: dict[str, str | None]  # {"code", "name"}
    layout: SeatLayout


_FLIGHT_INFO = (
    "SELECT flight_number, departure_utc, status, layout::text AS layout"
    " FROM seats.flights WHERE flight_id = $1"
)


async def read_flight_info(*, db: Database, flight_id: int) -> FlightInfo | None:
    """The flight as stored here (one statement, no transaction), or None."""
    async with connect(db) as conn:
        row = await conn.fetchrow(_FLIGHT_INFO, flight_id)
    if row is None:
        return None
    layout = json.loads(row["layout"])
    return FlightInfo(
        flight_id=flight_id,
        flight_number=row["flight_number"],
        departure_utc=row["departure_utc"],
        status=row["status"],
        aircraft={"code": layout.get("code"), "name": layout.get("name")},
        layout=seat_layout(layout),
    )


class FlightDirectory:
    """Flights for holds and seat maps: cached here, else Postgres, else the flight search
    service (then stored). Entries live `ttl_seconds`; the consumer forgets what it changes."""

    def __init__(
        self, *, client: ServiceClient, ttl_seconds: float, max_entries: int = 20_000
    ) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[int, tuple[float, FlightInfo]] = {}

    async def get(self, *, db: Database, flight_id: int) -> FlightInfo:
        entry = self._entries.get(flight_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        info = await read_flight_info(db=db, flight_id=flight_id)
        if info is None:
            # Not seen yet (its flight.created not consumed yet?): fetched and stored.
            async with db.sessionmaker() as session:
                await load_flight(session=session, flights=self.client, flight_id=flight_id)
            info = await read_flight_info(db=db, flight_id=flight_id)
            if info is None:  # deleted as soon as stored (a flight is never deleted today)
                raise FlightNotFound(f"Flight {flight_id} does not exist")
        self.remember(info)
        return info

    def remember(self, info: FlightInfo) -> None:
        if self.ttl_seconds <= 0:
            return
        self._entries.pop(info.flight_id, None)
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[info.flight_id] = (time.monotonic() + self.ttl_seconds, info)

    def forget(self, flight_ids: Iterable[int]) -> None:
        for flight_id in flight_ids:
            self._entries.pop(flight_id, None)


# Event handlers (consumer group "seat"); each runs in the consumer's transaction. A run of
# flight.created events is handled in one transaction (`batch_handlers`, the consumer's
# `batch_handlers=`).
def event_handlers(*, directory: FlightDirectory, holds: HoldStore) -> dict[str, Handler]:
    async def on_flight_cancelled(event: Event, session: AsyncSession) -> None:
        flight_id = await mark_cancelled(session=session, cancelled=FlightCancelled.of(event))
        # Before the commit: if the commit fails the event comes again, and a cancellation
        # is final, so marking it early is never wrong.
        await holds.mark_cancelled(flight_id)
        directory.forget([flight_id])

    return {FlightCancelled.type: on_flight_cancelled}


def batch_handlers(*, directory: FlightDirectory) -> dict[str, BatchHandler]:
    """flight.created a run at a time: a seed leaves thousands of them, upserted in chunks."""

    async def on_flights_created(events: Sequence[Event], session: AsyncSession) -> None:
        documents = [FlightCreated.of(e) for e in events]
        flight_ids = await upsert_flights(session=session, documents=documents)
        directory.forget(flight_ids)

    return {FlightCreated.type: on_flights_created}
