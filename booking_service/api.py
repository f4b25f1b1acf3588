"""HTTP routes of the booking service: thin handlers over `service` and `lifecycle`."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from booking_service import lifecycle, service
from booking_service.clients import Clients
from booking_service.config import BookingSettings
from booking_service.errors import BookingNotFound
from booking_service.schemas import (
    BIGINT_MAX,
    BookingCreate,
    BookingOut,
    BookingPage,
    BookingState,
    DiscountIn,
    DiscountOut,
    InternalBookingOut,
    PaymentRef,
    PaymentStart,
    internal_view,
)
from shared.db import SessionDep
from shared.deps import from_state
from shared.security import CallingService, CurrentUser, bearer_token, ensure_self_or_admin

ClientsDep = Annotated[Clients, from_state("clients")]
SettingsDep = Annotated[BookingSettings, from_state("settings")]
BookingId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The booking's id")]

router = APIRouter(prefix="/api/bookings", tags=["bookings"])
internal = APIRouter(prefix="/internal/bookings", tags=["internal"])


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    summary="Book the caller's held seats (priced by the server)",
)
@router.post("", status_code=status.HTTP_201_CREATED, summary="Book held seats (alias)")
async def create_booking(
    body: BookingCreate,
    user: CurrentUser,
    session: SessionDep,
    clients: ClientsDep,
    settings: SettingsDep,
    request: Request,
) -> BookingOut:
    booking = await service.create_booking(
        session=session,
        clients=clients,
        settings=settings,
        user=user,
        request=body,
        user_token=bearer_token(request),
    )
    return BookingOut.of(booking)


@router.get("", summary="My bookings, newest first")
async def list_bookings(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> BookingPage:
    items, next_cursor = await service.list_bookings(
        session=session, user=user, limit=limit, cursor=int(cursor) if cursor else None
    )
    return BookingPage(items=[BookingOut.of(b) for b in items], next_cursor=next_cursor)


@router.get("/{booking_id}", summary="A booking of mine")
async def get_booking(booking_id: BookingId, user: CurrentUser, session: SessionDep) -> BookingOut:
    return BookingOut.of(
        await service.get_booking(session=session, booking_id=booking_id, user=user)
    )


@router.get("/{booking_id}/{user_id}", summary="A booking of mine (the seed's form)")
async def get_user_booking(
    booking_id: BookingId,
    user_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    user: CurrentUser,
    session: SessionDep,
) -> BookingOut:
    ensure_self_or_admin(user, user_id)
    booking = await service.get_booking(session=session, booking_id=booking_id, user=user)
    if booking.user_id != user_id:  # an admin naming the wrong owner
        raise BookingNotFound(f"Booking {booking_id} not found")
    return BookingOut.of(booking)


@router.post("/{booking_id}/cancel", summary="Cancel (a paid booking is refunded in full)")
async def cancel_booking(
    booking_id: BookingId, user: CurrentUser, session: SessionDep, clients: ClientsDep
) -> BookingOut:
    booking = await lifecycle.cancel_booking(
        session=session, clients=clients, booking_id=booking_id, user=user
    )
    return BookingOut.of(booking)


# Internal: the payment, discount and ticket services (service token only) --------------------
# GET answers the whole booking; the payment saga's steps answer its state only (BookingState).


@internal.get("/{booking_id}")
async def internal_get(
    booking_id: BookingId, _caller: CallingService, session: SessionDep
) -> InternalBookingOut:
    return internal_view(await service.get_booking_internal(session=session, booking_id=booking_id))


@internal.post("/{booking_id}/payment-started", summary="Reserve the booking for one payment")
async def internal_payment_started(
    booking_id: BookingId,
    body: PaymentStart,
    _caller: CallingService,
    session: SessionDep,
    clients: ClientsDep,
) -> BookingState:
    booking = await lifecycle.start_payment(
        session=session,
        clients=clients,
        booking_id=booking_id,
        payment_id=body.payment_id,
        amount=body.amount,
        user_id=body.user_id,
    )
    return BookingState.of(booking)


@internal.post("/{booking_id}/payment-failed", summary="The payment failed; payable again")
async def internal_payment_failed(
    booking_id: BookingId, body: PaymentRef, _caller: CallingService, session: SessionDep
) -> BookingState:
    booking = await lifecycle.payment_failed(
        session=session, booking_id=booking_id, payment_id=body.payment_id
    )
    return BookingState.of(booking)


@internal.post("/{booking_id}/confirm", summary="Sell the held seats; CONFIRMED (idempotent)")
async def internal_confirm(
    booking_id: BookingId,
    body: PaymentRef,
    _caller: CallingService,
    session: SessionDep,
    clients: ClientsDep,
) -> BookingState:
    booking = await lifecycle.confirm_booking(
        session=session, clients=clients, booking_id=booking_id, payment_id=body.payment_id
    )
    return BookingState.of(booking)


@internal.post("/{booking_id}/expire", summary="Expire the booking if its deadline has passed")
async def internal_expire(
    booking_id: BookingId, _caller: CallingService, session: SessionDep, clients: ClientsDep
) -> BookingState:
    booking = await lifecycle.expire_if_due(session=session, clients=clients, booking_id=booking_id)
    return BookingState.of(booking)


@internal.post("/{booking_id}/discount", summary="Reprice a PENDING booking with a discount")
async def internal_discount(
    booking_id: BookingId, body: DiscountIn, _caller: CallingService, session: SessionDep
) -> DiscountOut:
    booking, before = await service.apply_discount(
        session=session, booking_id=booking_id, code=body.code, discount=body.discount
    )
    return DiscountOut(
        code=body.code,
        discount=booking.discount,
        amount_before=before,
        amount_after=booking.amount_due,
        booking=BookingOut.of(booking),
    )
