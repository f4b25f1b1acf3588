"""HTTP routes of the discount service: thin handlers over `service`."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from discount_service import service
from discount_service.clients import BookingClient
from discount_service.guesses import CodeGuesses
from discount_service.models import DiscountCode
from discount_service.schemas import (
    AppliedOut,
    ApplyRequest,
    DiscountCodeCreate,
    DiscountCodeOut,
    QuoteOut,
)
from shared.db import SessionDep
from shared.deps import from_state
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.security import AdminUser, CurrentUser

BookingsDep = Annotated[BookingClient, from_state("clients", "bookings")]
GuessesDep = Annotated[CodeGuesses, from_state("code_guesses")]

_REFUSALS = problems(
    (404, "Unknown code (DISCOUNT_NOT_FOUND) or booking (BOOKING_NOT_FOUND)"),
    (
        409,
        "BOOKING_NOT_PENDING, DISCOUNT_ALREADY_APPLIED (one code per booking), PAYMENT_IN_PROGRESS",
    ),
    (
        422,
        "DISCOUNT_EXPIRED (inactive, not yet or no longer valid), DISCOUNT_EXHAUSTED, "
        "DISCOUNT_USER_LIMIT, DISCOUNT_MIN_AMOUNT, DISCOUNT_TOO_LARGE, or an invalid request "
        "(VALIDATION_FAILED)",
    ),
    (
        429,
        "Too many unknown or expired codes tried (DISCOUNT_ATTEMPTS_THROTTLED), with "
        "Retry-After; until the window ends every code is refused, a valid one too",
    ),
)

router = APIRouter(prefix="/api/discounts", tags=["discounts"])


def code_out(c: DiscountCode) -> DiscountCodeOut:
    return DiscountCodeOut(
        id=c.id,
        code=c.code,
        description=c.description,
        kind=c.kind,
        value=c.value,
        max_discount=c.max_discount,
        min_booking_amount=c.min_booking_amount,
        valid_from=c.valid_from,
        valid_until=c.valid_until,
        usage_limit=c.usage_limit,
        per_user_limit=c.per_user_limit,
        active=c.active,
        times_used=c.times_used,
        remaining=None if c.usage_limit is None else max(0, c.usage_limit - c.times_used),
        created_at=c.created_at,
    )


@router.post(
    "/apply", summary="Apply a code to my PENDING booking and reprice it", responses=_REFUSALS
)
async def apply_code(
    body: ApplyRequest,
    user: CurrentUser,
    session: SessionDep,
    bookings: BookingsDep,
    guesses: GuessesDep,
) -> AppliedOut:
    applied = await service.apply_code(
        session=session,
        bookings=bookings,
        user=user,
        booking_id=body.booking_id,
        code=body.code,
        guesses=guesses,
    )
    return AppliedOut(
        code=applied.code,
        discount=applied.discount,
        amount_before=applied.amount_before,
        amount_after=applied.amount_after,
        amount_due=applied.amount_after,
        currency=applied.currency,
        booking_id=applied.booking_id,
        reference=applied.reference,
    )


@router.get(
    "/validate",
    summary="Preview a code (on my booking, when bookingId is given); nothing is redeemed",
    responses=_REFUSALS,
)
async def validate_code(
    user: CurrentUser,
    session: SessionDep,
    bookings: BookingsDep,
    guesses: GuessesDep,
    code: Annotated[str, Query(min_length=1, max_length=40)],
    booking_id: Annotated[int | None, Query(alias="bookingId", ge=1, le=BIGINT_MAX)] = None,
) -> QuoteOut:
    if booking_id is None:
        c = await service.preview_code(session=session, user=user, code=code, guesses=guesses)
        return QuoteOut(
            code=c.code,
            kind=c.kind,
            value=c.value,
            max_discount=c.max_discount,
            min_booking_amount=c.min_booking_amount,
        )
    q = await service.quote(
        session=session,
        bookings=bookings,
        user=user,
        booking_id=booking_id,
        code=code,
        guesses=guesses,
    )
    return QuoteOut(
        code=q.code.code,
        kind=q.code.kind,
        value=q.code.value,
        max_discount=q.code.max_discount,
        min_booking_amount=q.code.min_booking_amount,
        booking_id=q.booking.id,
        discount=q.discount,
        amount_before=q.amount_before,
        amount_after=q.amount_after,
        currency=q.booking.currency,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a discount code (admin)",
    responses=problems((409, "The code exists (DISCOUNT_CODE_EXISTS)")),
)
async def create_code(
    body: DiscountCodeCreate, _admin: AdminUser, session: SessionDep
) -> DiscountCodeOut:
    return code_out(await service.create_code(session=session, data=body))


@router.get("", summary="Every discount code with its usage (admin)")
async def list_codes(_admin: AdminUser, session: SessionDep) -> list[DiscountCodeOut]:
    return [code_out(c) for c in await service.list_codes(session=session)]
