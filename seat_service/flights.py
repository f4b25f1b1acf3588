"""The flights this service knows: from `flight.created` / `flight.cancelled`, or fetched from
the flight search service the first time a flight is asked for."""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from seat_service.errors import FlightNotFound
from seat_service.layout import seat_layout
from seat_service.models import Flight
from shared.errors import BadGateway
from shared.events import Event
from shared.http import ServiceClient

log = logging.getLogger("seat_service.flights")

CANCELLED = "cancelled"


def _utc(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _status(value: Any) -> str:
    status = str(value or "scheduled").strip().lower()
    return CANCELLED if status == "canceled" else status


def flight_values(document: Mapping[str, Any]) -> dict[str, Any]:
    """A `flight.created` document (or GET /internal/flights/{id}) -> `flights` columns.

    Raises ValueError/KeyError/TypeError when the document is not a usable flight."""
    aircraft = dict(document["aircraft"])
    layout = seat_layout(aircraft)
    if layout.total == 0:
        raise ValueError("aircraft has no seats")
    return {
        "flight_id": int(document["flightId"]),
        "flight_number": str(document.get("flightNumber") or "")[:16],
        "airline": document.get("airline"),
        "origin": document.get("origin"),
        "destination": document.get("destination"),
        "departure_utc": _utc(document["departureTime"]),
        "arrival_utc": _utc(document["arrivalTime"]) if document.get("arrivalTime") else None,
        "status": _status(document.get("status")),
        "layout": {
            "code": aircraft.get("code"),
            "name": aircraft.get("name"),
            "cabins": [
                {
                    "cabin": str(c["cabin"]).lower(),
                    "firstRow": int(c["firstRow"]),
                    "lastRow": int(c["lastRow"]),
                    "letters": str(c["letters"]).upper(),
                }
                for c in aircraft["cabins"]
            ],
        },
        "capacity": dict(layout.capacity),
        "total_seats": layout.total,
    }


async def upsert_flight(*, session: AsyncSession, document: Mapping[str, Any]) -> int:
    """Insert or refresh a flight from its document, in the caller's transaction.

    The availability version is never reset, and a cancellation is final: a stale document
    cannot bring a cancelled flight back."""
    values = flight_values(document)
    stmt = pg_insert(Flight).values(**values)
    excluded = stmt.excluded
    updates = {
        name: getattr(excluded, name) for name in values if name not in ("flight_id", "status")
    }
    updates["status"] = case((Flight.status == CANCELLED, Flight.status), else_=excluded.status)
    updates["updated_at"] = func.now()
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[Flight.flight_id], set_=updates)
    )
    return values["flight_id"]


async def mark_cancelled(*, session: AsyncSession, document: Mapping[str, Any]) -> None:
    """Record a cancellation (`flight.cancelled`); holds are refused from then on.

    A flight never seen is remembered as cancelled, with no seats, so a stale fetch later
    cannot bring it back."""
    flight_id = int(document["flightId"])
    stmt = pg_insert(Flight).values(
        flight_id=flight_id,
        flight_number=str(document.get("flightNumber") or "")[:16],
        departure_utc=_utc(document["departureTime"]),
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


async def fetch_flight_document(*, flights: ServiceClient, flight_id: int) -> dict[str, Any]:
    """GET /internal/flights/{id} from the flight search service."""
    response = await flights.get(f"/internal/flights/{flight_id}")
    if response.status_code == 404:
        raise FlightNotFound(f"Flight {flight_id} does not exist")
    if response.status_code != 200:
        raise BadGateway(f"flight-search service answered {response.status_code}")
    try:
        document = response.json()
        flight_values(document)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadGateway("flight-search service sent an unusable flight") from exc
    if int(document["flightId"]) != flight_id:
        raise BadGateway("flight-search service sent another flight")
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
    assert flight is not None
    log.info("flight %s fetched from flight search", flight_id)
    return flight


# Event handlers (consumer group "seat"); each runs in the consumer's transaction.
async def on_flight_created(event: Event, session: AsyncSession) -> None:
    await upsert_flight(session=session, document=event.payload)


async def on_flight_cancelled(event: Event, session: AsyncSession) -> None:
    await mark_cancelled(session=session, document=event.payload)
