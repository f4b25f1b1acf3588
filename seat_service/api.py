"""Routes: parse, call the service layer, answer with a schema.

The hot public routes (seat map, hold) answer with JSON serialised straight from what the
service layer returns, in the shape of their response model (which documents them):
validating 600 `SeatRead` models per seat map cost more than everything else in it. The
internal routes answer with their contract (`shared.contracts.seats`), built here and
serialised once (`_answer`), as the booking service parses it.
"""

from functools import lru_cache
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Response, status
from pydantic_core import to_json

from seat_service import holding, sales, seatmap, service
from seat_service.holds import HoldStore
from seat_service.layout import SeatLayout
from seat_service.schemas import HoldRead, LockRequest, SeatMapRead
from seat_service.state import Seats
from shared.contracts.seats import (
    ConfirmRequest,
    HoldDetail,
    HoldList,
    HoldStatus,
    SaleRead,
    SoldSeatsRelease,
    SoldSeatsReleased,
)
from shared.db import SessionDep
from shared.deps import from_state
from shared.events import OutboxRelay
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.schemas import CamelModel
from shared.security import CurrentUser, ensure_self_or_admin
from shared.service_identity import internal_caller

# Everything the hot routes need, in one dependency (each one costs a call per request).
SeatsDep = Annotated[Seats, from_state("seats")]
HoldsDep = Annotated[HoldStore, from_state("holds")]
RelayDep = Annotated[OutboxRelay, from_state("relay")]
FlightIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX)]

router = APIRouter(prefix="/api/seats", tags=["seats"])
internal = APIRouter(prefix="/internal", tags=["internal"])
# Holds are confirmed, read and released by the booking service alone.
FromBooking = Annotated[str, internal_caller("booking")]


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(to_json(content), status_code=status_code, media_type="application/json")


def _hold_read(info: service.HoldInfo) -> dict[str, Any]:
    """A `HoldRead`."""
    return {
        "holdId": info.hold_id,
        "flightId": info.flight_id,
        "seats": info.seats,
        "expiresAt": info.expires_at,
    }


def _answer(contract: CamelModel, status_code: int = 200) -> Response:
    """A contract's JSON, as FastAPI would write it, without validating it a second time."""
    return Response(
        contract.model_dump_json(by_alias=True),
        status_code=status_code,
        media_type="application/json",
    )


def _hold_detail(info: service.HoldInfo) -> HoldDetail:
    return HoldDetail(
        hold_id=str(info.hold_id),
        flight_id=info.flight_id,
        seats=info.seats,
        expires_at=info.expires_at,
        user_id=info.user_id,
        status=cast(HoldStatus, info.status),
        created_at=info.created_at,
        booking_id=info.booking_id,
    )


@lru_cache(maxsize=256)
def _available_seats(layout: SeatLayout) -> tuple[bytes, ...]:
    """Each seat's JSON as an available seat, once per aircraft layout: most seats are."""
    return tuple(
        _seat(seat, layout.cabin_of[seat], seatmap.SEAT_AVAILABLE, False) for seat in layout.seats
    )


@lru_cache(maxsize=65536)
def _seat(seat: str, cabin: str, seat_status: str, mine: bool) -> bytes:
    """A `SeatRead` (a few aircraft, so a few thousand different ones)."""
    return to_json({"seatNumber": seat, "cabin": cabin, "status": seat_status, "mine": mine})


def _seat_map(m: seatmap.SeatMap) -> bytes:
    """A `SeatMapRead`, its `seats` spliced in from the layout's ready-made JSON."""
    layout = m.flight.layout
    seats = list(_available_seats(layout))
    for seat, (seat_status, mine) in m.taken.items():
        seats[layout.index[seat]] = _seat(seat, layout.cabin_of[seat], seat_status, mine)
    head = {
        "flightId": m.flight.flight_id,
        "flightNumber": m.flight.flight_number,
        "departureTime": m.flight.departure_utc,
        "flightStatus": m.flight_status,
        "aircraft": m.flight.aircraft,
    }
    tail = {"total": len(seats), **m.counts, "byCabin": m.by_cabin}
    return b"".join((to_json(head)[:-1], b',"seats":[', b",".join(seats), b"],", to_json(tail)[1:]))


@router.get(
    "/{flight_id:id}",
    response_model=SeatMapRead,
    summary="Seat map: every seat with its status",
    responses=problems((404, "No such flight (FLIGHT_NOT_FOUND)")),
)
async def get_seat_map(flight_id: FlightIdPath, user: CurrentUser, seats: SeatsDep) -> Response:
    m = await seatmap.seat_map(
        db=seats.db,
        holds=seats.holds,
        directory=seats.flights,
        flight_id=flight_id,
        user_id=user.user_id,
    )
    return Response(_seat_map(m), media_type="application/json")


@router.post(
    "/lock",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldRead,
    summary="Hold one or several seats, all or nothing",
    responses=problems(
        (403, "userId is another user's (FORBIDDEN)"),
        (404, "No such flight (FLIGHT_NOT_FOUND)"),
        (
            409,
            "A seat is not available (SEAT_UNAVAILABLE, naming the seats); the flight is "
            "cancelled or departed; over the seats one may hold (SEAT_LIMIT_EXCEEDED, "
            "HOLD_LIMIT_REACHED)",
        ),
        (
            422,
            "Invalid body (VALIDATION_FAILED); no such seat (SEAT_NOT_FOUND), a seat twice "
            "(DUPLICATE_SEATS), too many seats (TOO_MANY_SEATS)",
        ),
        (429, "Too many hold attempts (HOLD_RATE_LIMITED)"),
    ),
)
async def lock_seats(body: LockRequest, user: CurrentUser, seats: SeatsDep) -> Response:
    ensure_self_or_admin(user, body.user_id)
    settings = seats.settings
    info = await holding.hold_seats(
        db=seats.db,
        holds=seats.holds,
        directory=seats.flights,
        user_id=body.user_id if body.user_id is not None else user.user_id,
        flight_id=body.flight_id,
        seat_numbers=body.requested,
        ttl_ms=settings.hold_ttl_ms,
        max_per_user=settings.max_seats_per_user,
        max_held=settings.max_held_seats_per_user,
        rate_limit=settings.hold_rate_limit,
        rate_window_seconds=settings.hold_rate_window_seconds,
    )
    return _json(_hold_read(info), status.HTTP_201_CREATED)


@router.delete(
    "/lock/{hold_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release my hold",
    responses=problems(
        (404, "No such hold of mine (HOLD_NOT_FOUND)"),
        (409, "Its seats are sold: cancel the booking instead (HOLD_ALREADY_CONFIRMED)"),
    ),
)
async def unlock_seats(
    hold_id: Annotated[str, Path(json_schema_extra={"format": "uuid"})],
    user: CurrentUser,
    seats: SeatsDep,
) -> Response:
    await holding.release_hold(
        db=seats.db,
        holds=seats.holds,
        hold_id=service.parse_hold_id(hold_id),
        user_id=user.user_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Internal: the booking service, with a service token --------------------------------------
@internal.get("/holds/{hold_id}", response_model=HoldDetail, responses=problems(404))
async def read_hold(hold_id: str, caller: FromBooking, seats: SeatsDep) -> Response:
    info = await service.get_hold(
        db=seats.db, holds=seats.holds, hold_id=service.parse_hold_id(hold_id)
    )
    return _answer(_hold_detail(info))


@internal.get("/holds", response_model=HoldList, summary="A user's live holds on a flight")
async def list_holds(
    user_id: Annotated[int, Query(alias="userId", ge=1, le=BIGINT_MAX)],
    flight_id: Annotated[int, Query(alias="flightId", ge=1, le=BIGINT_MAX)],
    caller: FromBooking,
    seats: SeatsDep,
) -> Response:
    found = await service.live_holds_of(
        db=seats.db, holds=seats.holds, user_id=user_id, flight_id=flight_id
    )
    return _answer(HoldList(holds=[_hold_detail(h) for h in found]))


@internal.post(
    "/holds/{hold_id}/confirm",
    response_model=SaleRead,
    summary="Sell a live hold's seats to a booking (idempotent per booking)",
    responses=problems(404, 409),
)
async def confirm_hold(
    hold_id: str,
    body: ConfirmRequest,
    caller: FromBooking,
    seats: SeatsDep,
) -> Response:
    sale = await sales.confirm_hold(
        db=seats.db,
        holds=seats.holds,
        hold_id=service.parse_hold_id(hold_id),
        booking_id=body.booking_id,
        pin_ms=round(seats.settings.hold_confirm_pin_seconds * 1000),
    )
    seats.relay.wake()
    return _answer(
        SaleRead(
            hold_id=str(sale.hold_id),
            flight_id=sale.flight_id,
            booking_id=sale.booking_id,
            seats=sale.seats,
            sold_at=sale.sold_at,
        )
    )


@internal.post(
    "/holds/{hold_id}/release",
    response_model=HoldDetail,
    summary="Release a hold on behalf of a booking",
    responses=problems(404, 409),
)
async def release_hold(hold_id: str, caller: FromBooking, seats: SeatsDep) -> Response:
    info = await holding.release_hold(
        db=seats.db, holds=seats.holds, hold_id=service.parse_hold_id(hold_id), user_id=None
    )
    return _answer(_hold_detail(info))


@internal.post(
    "/flights/{flight_id}/seats/release",
    response_model=SoldSeatsReleased,
    summary="Put a booking's sold seats back on sale (cancellation)",
    responses=problems(404),
)
async def release_sold_seats(
    flight_id: FlightIdPath,
    body: SoldSeatsRelease,
    caller: FromBooking,
    session: SessionDep,
    holds: HoldsDep,
    relay: RelayDep,
) -> SoldSeatsReleased:
    result = await sales.release_sold_seats(
        session=session,
        holds=holds,
        flight_id=flight_id,
        seat_numbers=body.seats,
        booking_id=body.booking_id,
    )
    relay.wake()
    availability = result.availability
    return SoldSeatsReleased(
        flight_id=result.flight_id,
        booking_id=result.booking_id,
        released=result.released,
        not_released=result.not_released,
        seats_available=None if availability is None else availability.seats_available,
        version=None if availability is None else availability.availability_version,
    )
