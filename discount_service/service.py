"""Discount codes: quoting, applying (counted exactly once), releasing, and admin creation.

Applying a code is reserve-then-reprice:

1. Quote: the code's rules against the caller's PENDING booking (read from the booking service).
2. Reserve, in one short transaction: a conditional `UPDATE codes SET times_used = times_used + 1
   WHERE ... times_used < usage_limit RETURNING` (the row lock also serialises the per-user
   count) and the redemption's INSERT (its booking id is unique: one code per booking). Racing
   applies of a code's last use: exactly one UPDATE matches.
3. Reprice the booking through the booking service, with no transaction open.
4. If the booking service refuses, the reservation is undone (redemption deleted, counter
   decremented): no use is lost. If its answer is unknown (timeout, 5xx), the booking is read
   back: our code on it means success; no code means undo; unreadable means the reservation
   stays and the booking's events settle it (`reconcile_*` below).

The booking is the truth about whether a discount is applied; its events reconcile the
redemptions: `booking.expired` and an unpaid `booking.cancelled` release the redemption,
`booking.confirmed` without our code releases it, `booking.repriced` with a code we hold no
redemption for records one.
"""

import logging
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from discount_service.clients import BookingClient, BookingView
from discount_service.errors import (
    BookingNotFound,
    BookingNotPending,
    DiscountAlreadyApplied,
    DiscountCodeExists,
    DiscountExhausted,
    DiscountExpired,
    DiscountMinAmount,
    DiscountNotFound,
    DiscountUserLimit,
    PaymentInProgress,
)
from discount_service.guesses import CodeGuesses
from discount_service.models import (
    APPLIED,
    FLAT,
    RELEASED,
    DiscountCode,
    Redemption,
    outbox,
)
from discount_service.schemas import DiscountCodeCreate
from shared import clock
from shared.contracts.bookings import PENDING
from shared.contracts.discounts import DiscountRedeemed, DiscountReleased
from shared.errors import BadGateway, DomainError, GatewayTimeout, ServiceUnavailable
from shared.events import publish
from shared.money import fmt, quantize
from shared.security import Principal

log = logging.getLogger("discount.service")

UPSTREAM_TROUBLE = (BadGateway, ServiceUnavailable, GatewayTimeout)


def normalise_code(code: str) -> str:
    return code.strip().upper()


@dataclass(frozen=True)
class Quote:
    code: DiscountCode
    booking: BookingView
    amount_before: Decimal
    discount: Decimal

    @property
    def amount_after(self) -> Decimal:
        return self.amount_before - self.discount


@dataclass(frozen=True)
class Applied:
    code: str
    booking_id: int
    reference: str
    discount: Decimal
    amount_before: Decimal
    amount_after: Decimal
    currency: str


# Rules ----------------------------------------------------------------------------------------


def discount_for(code: DiscountCode, amount: Decimal) -> Decimal:
    """What the code takes off `amount`: flat, or a percentage capped at `max_discount`;
    never more than the amount itself."""
    if code.kind == FLAT:
        off = code.value
    else:
        off = quantize(amount * code.value / Decimal(100))
        if code.max_discount is not None:
            off = min(off, code.max_discount)
    return quantize(max(Decimal(0), min(off, amount)))


def check_valid_now(code: DiscountCode, *, now: datetime) -> None:
    """Active and inside its validity window, else `DiscountExpired`."""
    if not code.active:
        raise DiscountExpired(f"Code {code.code} is no longer active", discountCode=code.code)
    if code.valid_from is not None and now < code.valid_from:
        raise DiscountExpired(
            f"Code {code.code} is valid from {code.valid_from.isoformat()}",
            discountCode=code.code,
            validFrom=code.valid_from.isoformat(),
        )
    if code.valid_until is not None and now >= code.valid_until:
        raise DiscountExpired(
            f"Code {code.code} expired on {code.valid_until.isoformat()}",
            discountCode=code.code,
            validUntil=code.valid_until.isoformat(),
        )


def check_not_exhausted(code: DiscountCode) -> None:
    if code.usage_limit is not None and code.times_used >= code.usage_limit:
        raise DiscountExhausted(f"Code {code.code} has been used up", discountCode=code.code)


def check_booking(booking: BookingView | None, *, user: Principal, booking_id: int) -> BookingView:
    """The caller's PENDING booking without a code (someone else's answers 404)."""
    if booking is None or (booking.user_id != user.user_id and not user.is_admin):
        raise BookingNotFound(f"Booking {booking_id} not found")
    if booking.status != PENDING:
        raise BookingNotPending(f"The booking is {booking.status}", bookingStatus=booking.status)
    if booking.discount_code is not None:
        raise DiscountAlreadyApplied(
            f"Code {booking.discount_code} is already applied to this booking",
            discountCode=booking.discount_code,
        )
    if booking.payment_in_progress:
        raise PaymentInProgress("A payment for this booking is in progress")
    return booking


def check_amount(code: DiscountCode, amount: Decimal, currency: str) -> None:
    if amount < code.min_booking_amount:
        raise DiscountMinAmount(
            f"Code {code.code} needs a booking of at least "
            f"{fmt(code.min_booking_amount)} {currency}",
            discountCode=code.code,
            minBookingAmount=fmt(code.min_booking_amount),
            amount=fmt(amount),
            currency=currency,
        )


# Reading --------------------------------------------------------------------------------------


async def get_code(*, session: AsyncSession, code: str) -> DiscountCode:
    found = await session.scalar(
        select(DiscountCode)
        .where(DiscountCode.code == normalise_code(code))
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise DiscountNotFound(f"Discount code {normalise_code(code)} does not exist")
    return found


async def list_codes(*, session: AsyncSession) -> list[DiscountCode]:
    return list((await session.scalars(select(DiscountCode).order_by(DiscountCode.id))).all())


async def quote(
    *,
    session: AsyncSession,
    bookings: BookingClient,
    user: Principal,
    booking_id: int,
    code: str,
    guesses: CodeGuesses | None,
    now: datetime | None = None,
) -> Quote:
    """What the code would take off the booking, every rule checked (no redemption).

    A failed guess (unknown or expired code) counts against the user's `guesses` (None: the
    caller counts it)."""
    async with _guess(guesses, user):
        return await _quote(
            session=session, bookings=bookings, user=user, booking_id=booking_id, code=code, now=now
        )


def _guess(guesses: CodeGuesses | None, user: Principal) -> AbstractAsyncContextManager[None]:
    return guesses.attempt(user) if guesses is not None else nullcontext()


async def _quote(
    *,
    session: AsyncSession,
    bookings: BookingClient,
    user: Principal,
    booking_id: int,
    code: str,
    now: datetime | None,
) -> Quote:
    now = now or clock.utcnow()
    async with session.begin():
        found = await get_code(session=session, code=code)
    booking = check_booking(await bookings.get(booking_id), user=user, booking_id=booking_id)
    check_valid_now(found, now=now)
    amount = booking.gross
    check_amount(found, amount, booking.currency)
    check_not_exhausted(found)
    return Quote(found, booking, amount, discount_for(found, amount))


async def preview_code(
    *,
    session: AsyncSession,
    user: Principal,
    code: str,
    guesses: CodeGuesses | None,
    now: datetime | None = None,
) -> DiscountCode:
    """The code, if it could be applied now (no booking given); a failed guess counts."""
    async with _guess(guesses, user):
        async with session.begin():
            found = await get_code(session=session, code=code)
        check_valid_now(found, now=now or clock.utcnow())
    check_not_exhausted(found)
    return found


# Applying -------------------------------------------------------------------------------------


async def _applied_by_user(session: AsyncSession, *, code_id: int, user_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Redemption)
            .where(
                Redemption.code_id == code_id,
                Redemption.user_id == user_id,
                Redemption.status == APPLIED,
            )
        )
        or 0
    )


async def reserve(*, session: AsyncSession, q: Quote, now: datetime | None = None) -> int:
    """Count one use and record the redemption, atomically; the redemption's id."""
    now = now or clock.utcnow()
    c = DiscountCode
    async with session.begin():
        counted = await session.scalar(
            update(c)
            .where(
                c.id == q.code.id,
                c.active.is_(True),
                or_(c.valid_from.is_(None), c.valid_from <= now),
                or_(c.valid_until.is_(None), c.valid_until > now),
                or_(c.usage_limit.is_(None), c.times_used < c.usage_limit),
            )
            .values(times_used=c.times_used + 1, updated_at=func.now())
            .returning(c.times_used)
        )
        if counted is None:  # used up (or deactivated) since the quote: say which
            fresh = await session.get_one(c, q.code.id, populate_existing=True)
            check_valid_now(fresh, now=now)
            raise DiscountExhausted(f"Code {fresh.code} has been used up", discountCode=fresh.code)
        if q.code.per_user_limit is not None:
            # Under the code's row lock (taken by the UPDATE): this user's applies serialise.
            used = await _applied_by_user(session, code_id=q.code.id, user_id=q.booking.user_id)
            if used >= q.code.per_user_limit:
                raise DiscountUserLimit(
                    f"Code {q.code.code} may be used {q.code.per_user_limit} time(s) per user",
                    discountCode=q.code.code,
                    perUserLimit=q.code.per_user_limit,
                )
        redemption_id: int | None = await session.scalar(
            pg_insert(Redemption)
            .values(
                code_id=q.code.id,
                booking_id=q.booking.id,
                user_id=q.booking.user_id,
                amount=q.discount,
                currency=q.booking.currency,
                status=APPLIED,
            )
            .on_conflict_do_nothing(index_elements=[Redemption.booking_id])
            .returning(Redemption.id)
        )
        if redemption_id is None:
            raise DiscountAlreadyApplied("A discount code is already applied to this booking")
        await publish(
            session,
            outbox,
            DiscountRedeemed(
                code=q.code.code,
                booking_id=q.booking.id,
                user_id=q.booking.user_id,
                discount=q.discount,
                times_used=counted,
            ),
        )
    return redemption_id


async def undo_reservation(*, session: AsyncSession, redemption_id: int) -> bool:
    """The booking did not take the discount: forget the redemption, give the use back."""
    async with session.begin():
        gone = (
            await session.execute(
                cast(Table, Redemption.__table__)
                .delete()
                .where(Redemption.id == redemption_id, Redemption.status == APPLIED)
                .returning(Redemption.code_id)
            )
        ).first()
        if gone is None:
            return False
        await _uncount(session, gone.code_id)
    return True


async def _uncount(session: AsyncSession, code_id: int) -> None:
    await session.execute(
        update(DiscountCode)
        .where(DiscountCode.id == code_id, DiscountCode.times_used > 0)
        .values(times_used=DiscountCode.times_used - 1, updated_at=func.now())
    )


async def apply_code(
    *,
    session: AsyncSession,
    bookings: BookingClient,
    user: Principal,
    booking_id: int,
    code: str,
    guesses: CodeGuesses | None,
) -> Applied:
    """Apply a code to the caller's PENDING booking and reprice it (see the module doc).

    An unknown or expired code counts against the user's `guesses`; past their limit every
    apply is refused (429) until the window ends, a valid code too."""
    q = await quote(
        session=session,
        bookings=bookings,
        user=user,
        booking_id=booking_id,
        code=code,
        guesses=guesses,
    )
    redemption_id = await reserve(session=session, q=q)
    try:
        repriced = await bookings.apply_discount(booking_id, code=q.code.code, discount=q.discount)
    except UPSTREAM_TROUBLE as exc:
        # Unknown outcome: the booking may or may not have taken the discount.
        applied = await _applied_after_all(
            bookings=bookings, q=q, booking_id=booking_id, redemption_id=redemption_id, exc=exc
        )
        if applied is not None:
            return applied
        await undo_reservation(session=session, redemption_id=redemption_id)
        raise
    except DomainError:  # the booking service refused: it did not take the discount
        await undo_reservation(session=session, redemption_id=redemption_id)
        raise
    # Anything else (the request cancelled mid-call, a bug) leaves the reservation in place:
    # over-counted for a while, never under-counted; the booking's events settle it.
    return Applied(
        code=q.code.code,
        booking_id=booking_id,
        reference=repriced.booking.reference,
        discount=repriced.discount,
        amount_before=repriced.amount_before,
        amount_after=repriced.amount_after,
        currency=repriced.booking.currency,
    )


async def _applied_after_all(
    *,
    bookings: BookingClient,
    q: Quote,
    booking_id: int,
    redemption_id: int,
    exc: DomainError,
) -> Applied | None:
    """After an unknown outcome, the booking read back: our code on it means it was applied
    (None: it was not). An unreadable booking re-raises `exc`, the reservation kept."""
    try:
        booking = await bookings.get(booking_id)
    except DomainError:
        log.warning(
            "booking %s: discount outcome unknown (%s); redemption %s kept until the "
            "booking's events settle it",
            booking_id,
            exc.detail,
            redemption_id,
        )
        raise exc from None
    if booking is None or booking.discount_code != q.code.code:
        return None
    return Applied(
        code=q.code.code,
        booking_id=booking_id,
        reference=booking.reference,
        discount=booking.fare.discount,
        amount_before=booking.gross,
        amount_after=booking.amount_due,
        currency=booking.currency,
    )


# Releasing and reconciling (the booking's events) ---------------------------------------------


async def release(
    *, session: AsyncSession, booking_id: int, reason: str, only_if_code_is_not: str | None = None
) -> bool:
    """Release the booking's applied redemption (in the caller's transaction). True if done."""
    r = Redemption
    conditions = [r.booking_id == booking_id, r.status == APPLIED]
    if only_if_code_is_not is not None:
        conditions.append(
            r.code_id.not_in(
                select(DiscountCode.id).where(DiscountCode.code == only_if_code_is_not)
            )
        )
    row = (
        await session.execute(
            update(r)
            .where(and_(*conditions))
            .values(status=RELEASED, released_at=func.now(), release_reason=reason[:100])
            .returning(r.code_id, r.user_id, r.amount)
        )
    ).first()
    if row is None:
        return False
    await _uncount(session, row.code_id)
    code = await session.scalar(select(DiscountCode.code).where(DiscountCode.id == row.code_id))
    await publish(
        session,
        outbox,
        DiscountReleased(
            code=code or "",
            booking_id=booking_id,
            user_id=row.user_id,
            discount=row.amount,
            reason=reason,
        ),
    )
    log.info("booking %s: discount %s released (%s)", booking_id, code, reason)
    return True


async def record_applied(
    *,
    session: AsyncSession,
    booking_id: int,
    user_id: int,
    code: str,
    amount: Decimal,
    currency: str,
) -> bool:
    """A booking carries a code we hold no redemption for (an apply whose answer was lost):
    record the redemption and count it (unless the code is at its limit meanwhile: the
    counter never passes it). True if recorded."""
    code_id = await session.scalar(
        select(DiscountCode.id).where(DiscountCode.code == normalise_code(code))
    )
    if code_id is None:
        log.error("booking %s carries unknown discount code %s", booking_id, code)
        return False
    inserted = await session.scalar(
        pg_insert(Redemption)
        .values(
            code_id=code_id,
            booking_id=booking_id,
            user_id=user_id,
            amount=amount,
            currency=currency,
            status=APPLIED,
        )
        .on_conflict_do_nothing(index_elements=[Redemption.booking_id])
        .returning(Redemption.id)
    )
    if inserted is None:
        return False
    await session.execute(
        update(DiscountCode)
        .where(
            DiscountCode.id == code_id,
            or_(
                DiscountCode.usage_limit.is_(None),
                DiscountCode.times_used < DiscountCode.usage_limit,
            ),
        )
        .values(times_used=DiscountCode.times_used + 1, updated_at=func.now())
    )
    log.warning("booking %s: recorded discount %s found on the booking", booking_id, code)
    return True


# Admin ----------------------------------------------------------------------------------------


async def create_code(*, session: AsyncSession, data: DiscountCodeCreate) -> DiscountCode:
    """A new code (admin). An existing code: `DiscountCodeExists`."""
    code = DiscountCode(
        code=normalise_code(data.code),
        description=data.description,
        kind=data.kind,
        value=data.value,
        max_discount=data.max_discount,
        min_booking_amount=data.min_booking_amount,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        usage_limit=data.usage_limit,
        per_user_limit=data.per_user_limit,
        active=data.active,
        times_used=0,
    )
    try:
        async with session.begin():
            session.add(code)
            await session.flush()
            await session.refresh(code)
    except IntegrityError as exc:
        raise DiscountCodeExists(f"Discount code {code.code} already exists") from exc
    return code


async def ensure_codes(*, session: AsyncSession, codes: list[dict[str, Any]]) -> list[str]:
    """Insert the codes that do not exist yet (the seed); the codes created."""
    created = []
    async with session.begin():
        for values in codes:
            inserted = await session.scalar(
                pg_insert(DiscountCode)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[DiscountCode.code])
                .returning(DiscountCode.code)
            )
            if inserted is not None:
                created.append(inserted)
    return created
