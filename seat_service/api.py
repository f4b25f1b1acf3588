"""Routes: parse, call the service layer, answer with a schema."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from seat_service import service
from seat_service.config import SeatSettings
from seat_service.holds import HoldStore
from seat_service.schemas import (
    BIGINT_MAX,
    CabinCounts,
    ConfirmRequest,
    HoldDetail,
    HoldList,
    HoldRead,
    LockRequest,
    SaleRead,
    SeatMapRead,
    SeatRead,
    SoldSeatsRelease,
    SoldSeatsReleased,
)
from shared.db import SessionDep
from shared.deps import from_state
from shared.events import OutboxRelay
from shared.http import ServiceClient
from shared.security import CallingService, CurrentUser, ensure_self_or_admin

HoldsDep = Annotated[HoldStore, from_state("holds")]
FlightsDep = Annotated[ServiceClient, from_state("flight_search")]
SettingsDep = Annotated[SeatSettings, from_state("settings")]
RelayDep = Annotated[OutboxRelay, from_state("relay")]
FlightIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX)]

router = APIRouter(prefix="/api/seats", tags=["seats"])
internal = APIRouter(prefix="/internal", tags=["internal"])

_PROBLEM = {"content": {"application/problem+json": {}}}


def _hold_read(info: service.HoldInfo) -> HoldRead:
    return HoldRead(
        hold_id=info.hold_id, flight_id=info.flight_id, seats=info.seats, expires_at=info.expires_at
    )


def _hold_detail(info: service.HoldInfo) -> HoldDetail:
    return HoldDetail(
        hold_id=info.hold_id,
        flight_id=info.flight_id,
        seats=info.seats,
        expires_at=info.expires_at,
        user_id=info.user_id,
        status=info.status,  # type: ignore[arg-type]
        created_at=info.created_at,
        booking_id=info.booking_id,
    )


@router.get(
    "/{flight_id}",
    response_model=SeatMapRead,
    summary="Seat map: every seat with its status",
    responses={404: _PROBLEM},
)
async def get_seat_map(
    flight_id: FlightIdPath,
    user: CurrentUser,
    session: SessionDep,
    holds: HoldsDep,
    flights: FlightsDep,
) -> SeatMapRead:
    m = await service.seat_map(
        session=session, holds=holds, flights=flights, flight_id=flight_id, user_id=user.user_id
    )
    return SeatMapRead(
        flight_id=m.flight.flight_id,
        flight_number=m.flight.flight_number,
        departure_time=m.flight.departure_utc,
        flight_status=m.flight.status,
        aircraft={"code": m.flight.layout.get("code"), "name": m.flight.layout.get("name")},
        seats=[
            SeatRead(seat_number=s.seat_number, cabin=s.cabin, status=s.status, mine=s.mine)  # type: ignore[arg-type]
            for s in m.seats
        ],
        total=len(m.seats),
        available=m.counts["available"],
        held=m.counts["held"],
        sold=m.counts["sold"],
        by_cabin={cabin: CabinCounts(**counts) for cabin, counts in m.by_cabin.items()},
    )


@router.post(
    "/lock",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldRead,
    summary="Hold one or several seats, all or nothing",
    responses={403: _PROBLEM, 404: _PROBLEM, 409: _PROBLEM, 422: _PROBLEM},
)
async def lock_seats(
    body: LockRequest,
    user: CurrentUser,
    session: SessionDep,
    holds: HoldsDep,
    flights: FlightsDep,
    settings: SettingsDep,
) -> HoldRead:
    ensure_self_or_admin(user, body.user_id)
    info = await service.hold_seats(
        session=session,
        holds=holds,
        flights=flights,
        user_id=body.user_id if body.user_id is not None else user.user_id,
        flight_id=body.flight_id,
        seat_numbers=body.requested,
        ttl_ms=settings.hold_ttl_ms,
        max_per_user=settings.max_seats_per_user,
    )
    return _hold_read(info)


@router.delete(
    "/lock/{hold_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release my hold",
    responses={404: _PROBLEM, 409: _PROBLEM},
)
async def unlock_seats(
    hold_id: str, user: CurrentUser, session: SessionDep, holds: HoldsDep
) -> Response:
    await service.release_hold(
        session=session, holds=holds, hold_id=service.parse_hold_id(hold_id), user_id=user.user_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Internal: the booking service, with a service token --------------------------------------
@internal.get("/holds/{hold_id}", response_model=HoldDetail, responses={404: _PROBLEM})
async def read_hold(
    hold_id: str, caller: CallingService, session: SessionDep, holds: HoldsDep
) -> HoldDetail:
    info = await service.get_hold(
        session=session, holds=holds, hold_id=service.parse_hold_id(hold_id)
    )
    return _hold_detail(info)


@internal.get("/holds", response_model=HoldList, summary="A user's live holds on a flight")
async def list_holds(
    user_id: Annotated[int, Query(alias="userId", ge=1, le=BIGINT_MAX)],
    flight_id: Annotated[int, Query(alias="flightId", ge=1, le=BIGINT_MAX)],
    caller: CallingService,
    session: SessionDep,
    holds: HoldsDep,
) -> HoldList:
    found = await service.live_holds_of(
        session=session, holds=holds, user_id=user_id, flight_id=flight_id
    )
    return HoldList(holds=[_hold_detail(h) for h in found])


@internal.post(
    "/holds/{hold_id}/confirm",
    response_model=SaleRead,
    summary="Sell a live hold's seats to a booking (idempotent per booking)",
    responses={404: _PROBLEM, 409: _PROBLEM},
)
async def confirm_hold(
    hold_id: str,
    body: ConfirmRequest,
    caller: CallingService,
    session: SessionDep,
    holds: HoldsDep,
    settings: SettingsDep,
    relay: RelayDep,
) -> SaleRead:
    sale = await service.confirm_hold(
        session=session,
        holds=holds,
        hold_id=service.parse_hold_id(hold_id),
        booking_id=body.booking_id,
        pin_ms=round(settings.hold_confirm_pin_seconds * 1000),
    )
    relay.wake()
    return SaleRead(
        hold_id=sale.hold_id,
        flight_id=sale.flight_id,
        booking_id=sale.booking_id,
        seats=sale.seats,
        sold_at=sale.sold_at,
    )


@internal.post(
    "/holds/{hold_id}/release",
    response_model=HoldDetail,
    summary="Release a hold on behalf of a booking",
    responses={404: _PROBLEM, 409: _PROBLEM},
)
async def release_hold(
    hold_id: str, caller: CallingService, session: SessionDep, holds: HoldsDep
) -> HoldDetail:
    info = await service.release_hold(
        session=session, holds=holds, hold_id=service.parse_hold_id(hold_id), user_id=None
    )
    return _hold_detail(info)


@internal.post(
    "/flights/{flight_id}/seats/release",
    response_model=SoldSeatsReleased,
    summary="Put a booking's sold seats back on sale (cancellation)",
    responses={404: _PROBLEM},
)
async def release_sold_seats(
    flight_id: FlightIdPath,
    body: SoldSeatsRelease,
    caller: CallingService,
    session: SessionDep,
    holds: HoldsDep,
    relay: RelayDep,
) -> SoldSeatsReleased:
    result = await service.release_sold_seats(
        session=session,
        holds=holds,
        flight_id=flight_id,
        seat_numbers=body.seats,
        booking_id=body.booking_id,
    )
    relay.wake()
    availability = result.availability or {}
    return SoldSeatsReleased(
        flight_id=result.flight_id,
        booking_id=result.booking_id,
        released=result.released,
        not_released=result.not_released,
        seats_available=availability.get("seatsAvailable"),
        version=availability.get("version"),
    )
