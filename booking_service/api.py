"""HTTP routes of the booking service: thin handlers over `service` and `lifecycle`."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from booking_service import lifecycle, service
from booking_service.clients import Clients
from booking_service.config import BookingSettings
from booking_service.errors import BookingNotFound
from booking_service.schemas import (
    BookingCreate,
    BookingOut,
    BookingPage,
    booking_state,
    internal_view,
)
from shared.contracts.bookings import (
    BookingState,
    DiscountRequest,
    InternalBooking,
    PaymentRef,
    PaymentStart,
    Repriced,
)
from shared.db import SessionDep
from shared.deps import from_state
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.security import CurrentUser, bearer_token, ensure_self_or_admin
from shared.service_identity import internal_caller

ClientsDep = Annotated[Clients, from_state("clients")]
SettingsDep = Annotated[BookingSettings, from_state("settings")]
BookingId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The booking's id")]

router = APIRouter(prefix="/api/bookings", tags=["bookings"])
internal = APIRouter(prefix="/internal/bookings", tags=["internal"])

# Who may call each internal route (shared.service_identity): the booking as other services
# read it, the payment saga's steps, and the discount service's repricing.
BookingReader = Annotated[str, internal_caller("payment", "discount", "ticket")]
PaymentSaga = Annotated[str, internal_caller("payment")]
Repricer = Annotated[str, internal_caller("discount")]


_NO_BOOKING = (404, "No such booking of mine (BOOKING_NOT_FOUND)")
_CREATE_PROBLEMS = problems(
    (403, "userId is another user's (FORBIDDEN)"),
    (404, "No such hold or flight (HOLD_NOT_FOUND, FLIGHT_NOT_FOUND)"),
    (
        409,
        "A hold that is not mine, expired or used (HOLD_NOT_OWNED, HOLD_EXPIRED, "
        "HOLD_ALREADY_USED, NO_ACTIVE_HOLD), a seat sold meanwhile, a cancelled or departed "
        "flight, or a client price that is not the current one (PRICE_CHANGED)",
    ),
    (
        422,
        "Invalid body (VALIDATION_FAILED); holds that do not form one booking (HOLD_REQUIRED, "
        "HOLD_FLIGHT_MISMATCH, ONE_HOLD_PER_FLIGHT, ITINERARY_INVALID), a seat or passenger "
        "count that does not match the holds (SEAT_COUNT_MISMATCH, PASSENGER_COUNT_MISMATCH)",
    ),
)


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    summary="Book the caller's held seats (priced by the server)",
    responses=_CREATE_PROBLEMS,
)
@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Book held seats (alias)",
    responses=_CREATE_PROBLEMS,
)
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


@router.get("/{booking_id:id}", summary="A booking of mine", responses=problems(_NO_BOOKING))
async def get_booking(booking_id: BookingId, user: CurrentUser, session: SessionDep) -> BookingOut:
    return BookingOut.of(
        await service.get_booking(session=session, booking_id=booking_id, user=user)
    )


@router.get(
    "/{booking_id:id}/{user_id:id}",
    summary="A booking of mine (the seed's form)",
    responses=problems((403, "userId is another user's (FORBIDDEN)"), _NO_BOOKING),
)
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


@router.post(
    "/{booking_id:id}/cancel",
    summary="Cancel (a paid booking is refunded in full)",
    responses=problems(
        _NO_BOOKING,
        (
            409,
            "Expired, departed, or a payment under way "
            "(BOOKING_NOT_CANCELLABLE, FLIGHT_DEPARTED, PAYMENT_IN_PROGRESS)",
        ),
    ),
)
async def cancel_booking(
    booking_id: BookingId, user: CurrentUser, session: SessionDep, clients: ClientsDep
) -> BookingOut:
    booking = await lifecycle.cancel_booking(
        session=session, clients=clients, booking_id=booking_id, user=user
    )
    return BookingOut.of(booking)


# Internal: the payment, discount and ticket services (service token only) --------------------
# The contracts of shared.contracts.bookings: GET answers the whole booking, the payment saga's
# steps its state only (BookingState).


@internal.get("/{booking_id}")
async def internal_get(
    booking_id: BookingId, _caller: BookingReader, session: SessionDep
) -> InternalBooking:
    return internal_view(await service.get_booking_internal(session=session, booking_id=booking_id))


@internal.post("/{booking_id}/payment-started", summary="Reserve the booking for one payment")
async def internal_payment_started(
    booking_id: BookingId,
    body: PaymentStart,
    _caller: PaymentSaga,
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
    return booking_state(booking)


@internal.post("/{booking_id}/payment-failed", summary="The payment failed; payable again")
async def internal_payment_failed(
    booking_id: BookingId, body: PaymentRef, _caller: PaymentSaga, session: SessionDep
) -> BookingState:
    booking = await lifecycle.payment_failed(
        session=session, booking_id=booking_id, payment_id=body.payment_id
    )
    return booking_state(booking)


@internal.post("/{booking_id}/confirm", summary="Sell the held seats; CONFIRMED (idempotent)")
async def internal_confirm(
    booking_id: BookingId,
    body: PaymentRef,
    _caller: PaymentSaga,
    session: SessionDep,
    clients: ClientsDep,
) -> BookingState:
    booking = await lifecycle.confirm_booking(
        session=session, clients=clients, booking_id=booking_id, payment_id=body.payment_id
    )
    return booking_state(booking)


@internal.post("/{booking_id}/expire", summary="Expire the booking if its deadline has passed")
async def internal_expire(
    booking_id: BookingId, _caller: PaymentSaga, session: SessionDep, clients: ClientsDep
) -> BookingState:
    booking = await lifecycle.expire_if_due(session=session, clients=clients, booking_id=booking_id)
    return booking_state(booking)


@internal.post("/{booking_id}/discount", summary="Reprice a PENDING booking with a discount")
async def internal_discount(
    booking_id: BookingId, body: DiscountRequest, _caller: Repricer, session: SessionDep
) -> Repriced:
    booking, before = await service.apply_discount(
        session=session, booking_id=booking_id, code=body.code, discount=body.discount
    )
    return Repriced(
        code=body.code,
        discount=booking.discount,
        amount_before=before,
        amount_after=booking.amount_due,
        booking=BookingOut.of(booking),
    )
