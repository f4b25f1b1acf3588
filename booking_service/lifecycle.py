"""A booking's life after creation: payment, confirmation, expiry and cancellation.

PENDING -> CONFIRMED (paid) -> CANCELLED (refunded); PENDING -> EXPIRED or CANCELLED.

Every transition happens under the booking's row lock (`SELECT ... FOR UPDATE`, or one
`UPDATE` whose WHERE holds every check: the payment saga's reserve and release), so the payment
saga, the user, the sweeper and the flight-cancellation consumer never act on one booking at
once. A booking's segments, seats and passengers never change once it exists: only the steps
that need them load them, before taking the lock where they can. Calls to other services that
must happen with a transition (selling the held seats, refunding) are made while the lock is
held and before the commit: if one fails, the transaction rolls back and the booking is as it
was. Releasing seat holds is best-effort after the commit (a hold runs out on its own anyway).
See README.md, "The money path".
"""

import logging
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from booking_service.clients import Clients
from booking_service.errors import (
    AmountMismatch,
    BookingAlreadyPaid,
    BookingNotCancellable,
    BookingNotFound,
    BookingNotPayable,
    FlightCancelled,
    FlightDeparted,
    HoldExpired,
    HoldNotFound,
    PaymentInProgress,
    PaymentMismatch,
    SeatAlreadySold,
)
from booking_service.models import (
    CANCELLED,
    CONFIRMED,
    EXPIRED,
    PENDING,
    Booking,
    Segment,
    outbox,
)
from booking_service.schemas import booking_event, confirmed_event
from booking_service.service import load_graph, lock_booking, lock_with_graph
from shared import clock
from shared.contracts.bookings import BookingCancelled, BookingExpired
from shared.contracts.flights import FlightCancelled as FlightCancelledEvent
from shared.db import autocommit
from shared.events import Event, publish
from shared.money import fmt
from shared.security import Principal

log = logging.getLogger("booking.lifecycle")

USER_CANCELLED = "USER_CANCELLED"
FLIGHT_CANCELLED = "FLIGHT_CANCELLED"


async def release_holds(clients: Clients, hold_ids: list[str]) -> None:
    """Best effort: a hold that cannot be released now runs out by itself."""
    for hold_id in hold_ids:
        try:
            await clients.seats.release_hold(hold_id=hold_id)
        except Exception as exc:  # logged; the hold's TTL frees the seats anyway
            log.warning("could not release hold %s: %s", hold_id, exc)


async def _expire(session: AsyncSession, b: Booking, *, reason: str) -> None:
    now = clock.utcnow()
    b.status = EXPIRED
    b.status_reason = reason
    b.expired_at = now
    b.updated_at = now
    await publish(session, outbox, booking_event(BookingExpired, b))


def _unpaid(b: Booking) -> BookingCancelled:
    """`booking.cancelled` of a booking that was never paid (any charge is refunded by the
    payment service, which says so in its own `payment.refunded`)."""
    return booking_event(BookingCancelled, b, refunded_amount=Decimal("0.00"), was_paid=False)


def _cancel(b: Booking, *, reason: str) -> None:
    now = clock.utcnow()
    b.status = CANCELLED
    b.status_reason = reason
    b.cancelled_at = now
    b.updated_at = now


# The payment saga's steps (called by the payment service) ------------------------------------


async def start_payment(
    *,
    session: AsyncSession,
    clients: Clients,
    booking_id: int,
    payment_id: int,
    amount: Decimal,
    user_id: int,
) -> Booking:
    """Reserve the booking for one payment before the card is charged (idempotent).

    Checks, under the row lock, that the booking is still payable and the amount still due, so
    a discount applied meanwhile or an expiry cannot slip in between check and charge. While a
    payment is in progress the sweeper does not expire the booking and it cannot be repriced.
    """
    reserved = await _reserve(
        session, booking_id=booking_id, payment_id=payment_id, amount=amount, user_id=user_id
    )
    if reserved is not None:
        return reserved
    expired: Booking | None = None
    async with session.begin():
        b = await lock_booking(session, booking_id)
        if b is None or b.user_id != user_id:
            raise BookingNotFound(f"Booking {booking_id} not found")
        if b.status == CONFIRMED:
            raise BookingAlreadyPaid("The booking is already paid", bookingStatus=b.status)
        if b.status != PENDING or b.cancel_requested_at is not None:
            raise BookingNotPayable(
                f"The booking is {b.status.lower()}", bookingStatus=b.status, reason=b.status_reason
            )
        if b.payment_id is not None:
            if b.payment_id == payment_id:
                return b
            raise PaymentInProgress("A payment for this booking is in progress")
        if b.expires_at <= clock.utcnow():  # rare: the payment service expires a late booking first
            await load_graph(session, b)
            await _expire(session, b, reason="HOLD_EXPIRED: not paid before the seat hold ran out")
            expired = b
        else:
            if amount != b.amount_due:
                raise AmountMismatch(
                    f"The amount due is {fmt(b.amount_due)} {b.currency}",
                    amountDue=fmt(b.amount_due),
                    currency=b.currency,
                )
            b.payment_id = payment_id
            b.payment_started_at = clock.utcnow()
            b.updated_at = clock.utcnow()
    if expired is not None:
        await release_holds(clients, [s.hold_id for s in expired.segments])
        raise HoldExpired("The seat hold expired before payment", bookingStatus=EXPIRED)
    return b


async def _reserve(
    session: AsyncSession, *, booking_id: int, payment_id: int, amount: Decimal, user_id: int
) -> Booking | None:
    """The common case in one round trip: the payable booking reserved for the payment.

    One UPDATE with every check of `start_payment` in its WHERE: Postgres locks the row and
    re-checks the conditions on its latest version, as the row lock and checks would. None
    when a check fails (or the payment repeats): `start_payment` then says why under the lock.
    """
    now = clock.utcnow()
    async with autocommit(session):
        reserved = await session.scalars(
            update(Booking)
            .where(
                Booking.id == booking_id,
                Booking.user_id == user_id,
                Booking.status == PENDING,
                Booking.cancel_requested_at.is_(None),
                Booking.payment_id.is_(None),
                Booking.expires_at > now,
                Booking.amount_due == amount,
            )
            .values(payment_id=payment_id, payment_started_at=now, updated_at=now)
            .returning(Booking)
        )
        return reserved.one_or_none()


async def payment_failed(*, session: AsyncSession, booking_id: int, payment_id: int) -> Booking:
    """The payment failed without taking money: the booking is payable again (idempotent).

    One UPDATE (atomic, as the row lock was) clears this payment from a PENDING booking; if it
    changes nothing (a repeat, or the booking moved on) the booking is answered as it is.
    """
    async with autocommit(session):
        b = (
            await session.scalars(
                update(Booking)
                .where(
                    Booking.id == booking_id,
                    Booking.status == PENDING,
                    Booking.payment_id == payment_id,
                )
                .values(payment_id=None, payment_started_at=None, updated_at=clock.utcnow())
                .returning(Booking)
            )
        ).one_or_none()
        b = b or await session.get(Booking, booking_id)
    if b is None:
        raise BookingNotFound(f"Booking {booking_id} not found")
    return b


async def confirm_booking(
    *, session: AsyncSession, clients: Clients, booking_id: int, payment_id: int
) -> Booking:
    """Sell the held seats and confirm the paid booking (idempotent for the same payment).

    If a hold ran out (or a seat went to someone else) the booking ends EXPIRED, any seats
    already sold to it are given back, and the 409 tells the payment service to refund.
    """
    failure: Exception | None = None
    to_release: list[str] = []
    async with session.begin():
        b = await lock_with_graph(session, booking_id)  # the seats to sell and the event's data
        if b is None:
            raise BookingNotFound(f"Booking {booking_id} not found")
        if b.status == CONFIRMED:
            if b.payment_id == payment_id:
                return b
            raise BookingAlreadyPaid("The booking was paid by another payment")
        if b.status == EXPIRED:
            raise HoldExpired(
                "The booking expired before it was confirmed",
                bookingStatus=b.status,
                reason=b.status_reason,
            )
        if b.status != PENDING:
            raise BookingNotPayable(
                f"The booking is {b.status.lower()}", bookingStatus=b.status, reason=b.status_reason
            )
        if b.payment_id is not None and b.payment_id != payment_id:
            raise PaymentMismatch("Another payment is running for this booking")
        if b.cancel_requested_at is not None:
            _cancel(b, reason=b.cancel_reason or USER_CANCELLED)
            await publish(session, outbox, _unpaid(b))
            to_release = [s.hold_id for s in b.segments]
            failure = BookingNotPayable(
                "The booking was cancelled before it could be confirmed",
                bookingStatus=CANCELLED,
                reason=b.status_reason,
            )
        else:
            to_release, failure = await _sell(
                session=session, clients=clients, b=b, payment_id=payment_id
            )
    if to_release:
        await release_holds(clients, to_release)
    if failure is not None:
        raise failure
    return b


async def _sell(
    *, session: AsyncSession, clients: Clients, b: Booking, payment_id: int
) -> tuple[list[str], Exception | None]:
    """Sell the booking's held seats and confirm it, under its lock; or end it (EXPIRED, or
    CANCELLED with its flight) giving back what was sold. (holds to release, the refusal)."""
    sold: list[Segment] = []
    try:
        for seg in b.segments:
            await clients.seats.confirm_hold(hold_id=seg.hold_id, booking_id=b.id)
            sold.append(seg)
    except (HoldExpired, HoldNotFound, SeatAlreadySold, FlightCancelled) as exc:
        for seg in sold:  # a one-stop booking is both flights or neither
            await clients.seats.release_seats(
                flight_id=seg.flight_id, seats=list(seg.seat_numbers), booking_id=b.id
            )
        b.payment_id = payment_id
        to_release = [s.hold_id for s in b.segments if s not in sold]
        if isinstance(exc, FlightCancelled):
            _cancel(b, reason=FLIGHT_CANCELLED)
            await publish(session, outbox, _unpaid(b))
            return to_release, FlightCancelled(exc.detail, bookingStatus=CANCELLED)
        if isinstance(exc, SeatAlreadySold):
            await _expire(session, b, reason=f"SEAT_ALREADY_SOLD: {exc.detail}")
            return to_release, SeatAlreadySold(exc.detail, bookingStatus=EXPIRED)
        await _expire(session, b, reason=f"HOLD_EXPIRED: {exc.detail}")
        return to_release, HoldExpired(exc.detail, bookingStatus=EXPIRED)
    now = clock.utcnow()
    b.status = CONFIRMED
    b.status_reason = None
    b.payment_id = payment_id
    b.confirmed_at = now
    b.updated_at = now
    await publish(session, outbox, confirmed_event(b))
    return [], None


async def expire_if_due(*, session: AsyncSession, clients: Clients, booking_id: int) -> Booking:
    """Expire a PENDING booking whose deadline has passed (no payment in progress)."""
    async with session.begin():
        b = await lock_booking(session, booking_id)
        if b is None:
            raise BookingNotFound(f"Booking {booking_id} not found")
        due = b.status == PENDING and b.payment_id is None and b.expires_at <= clock.utcnow()
        if due:
            await load_graph(session, b)
            await _expire(session, b, reason="HOLD_EXPIRED: not paid before the seat hold ran out")
    if due:
        await release_holds(clients, [s.hold_id for s in b.segments])
    return b


# Cancellation --------------------------------------------------------------------------------


async def cancel_booking(
    *, session: AsyncSession, clients: Clients, booking_id: int, user: Principal
) -> Booking:
    """The traveller cancels: a pending booking is dropped, a confirmed one refunded in full.

    The intent is committed first, so if a refund or seat release fails half-way the sweeper
    finishes the cancellation; cancelling again is harmless.
    """
    async with session.begin():
        b = await lock_with_graph(session, booking_id)
        if b is None or (b.user_id != user.user_id and not user.is_admin):
            raise BookingNotFound(f"Booking {booking_id} not found")
        if b.status == CANCELLED:
            return b
        if b.status == EXPIRED:
            raise BookingNotCancellable("The booking has expired", bookingStatus=b.status)
        if b.payment_in_progress:
            raise PaymentInProgress("A payment for this booking is in progress; try again shortly")
        if b.status == CONFIRMED and min(s.departure_time for s in b.segments) <= clock.utcnow():
            raise FlightDeparted("The flight has departed; the booking cannot be cancelled")
        if b.cancel_requested_at is None:
            b.cancel_requested_at = clock.utcnow()
            b.cancel_reason = USER_CANCELLED
            b.updated_at = clock.utcnow()
    done = await drive_cancellation(session=session, clients=clients, booking_id=booking_id)
    if done is None:  # waiting for the lock, None means no such booking (they are never deleted)
        raise BookingNotFound(f"Booking {booking_id} not found")
    return done


async def drive_cancellation(
    *, session: AsyncSession, clients: Clients, booking_id: int, wait: bool = True
) -> Booking | None:
    """Carry out a requested cancellation: refund, give the seats back, CANCELLED.

    With `wait=False` a booking another worker holds is skipped (None).
    """
    to_release: list[str] = []
    async with session.begin():
        b = await lock_with_graph(session, booking_id, skip_locked=not wait)
        if b is None:
            return None
        if b.cancel_requested_at is None or b.status not in (PENDING, CONFIRMED):
            return b
        reason = b.cancel_reason or USER_CANCELLED
        if b.status == PENDING:
            if b.payment_id is not None:
                return b  # the payment's outcome decides (its confirm sees the cancellation)
            _cancel(b, reason=reason)
            to_release = [s.hold_id for s in b.segments]
            await publish(session, outbox, _unpaid(b))
        else:
            refund = await clients.payments.refund(booking_id=b.id, reason=reason)
            for seg in b.segments:
                await clients.seats.release_seats(
                    flight_id=seg.flight_id, seats=list(seg.seat_numbers), booking_id=b.id
                )
            _cancel(b, reason=reason)
            b.refunded_amount = refund.amount
            paid = booking_event(
                BookingCancelled,
                b,
                refunded_amount=refund.amount,
                was_paid=True,
                refund_payment_id=refund.payment_id,
            )
            await publish(session, outbox, paid)
    if to_release:
        await release_holds(clients, to_release)
    return b


async def on_flight_cancelled(event: Event, session: AsyncSession) -> None:
    """`flight.cancelled`: every live booking on the flight is to be cancelled and refunded.

    Runs in the consumer's transaction (exactly once per event); the sweeper does the work.
    """
    flight_id = FlightCancelledEvent.of(event).flight_id
    now = clock.utcnow()
    on_flight = select(Segment.booking_id).where(Segment.flight_id == flight_id)
    result = await session.execute(
        update(Booking)
        .where(
            Booking.id.in_(on_flight),
            Booking.status.in_((PENDING, CONFIRMED)),
            Booking.cancel_requested_at.is_(None),
        )
        .values(cancel_requested_at=now, cancel_reason=FLIGHT_CANCELLED, updated_at=now)
    )
    log.info(
        "flight %s cancelled: %s booking(s) to cancel",
        flight_id,
        cast(CursorResult[Any], result).rowcount,
    )


# The sweeper ---------------------------------------------------------------------------------


async def expire_due_bookings(
    *, sessionmaker: async_sessionmaker[AsyncSession], clients: Clients, limit: int = 100
) -> int:
    """Expire unpaid PENDING bookings past `expiresAt` (not those with a payment running)."""
    async with sessionmaker() as session:
        async with session.begin():
            due = (
                await session.scalars(
                    select(Booking)
                    .where(
                        Booking.status == PENDING,
                        Booking.expires_at <= clock.utcnow(),
                        Booking.payment_id.is_(None),
                    )
                    .order_by(Booking.expires_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                    .options(selectinload(Booking.segments), selectinload(Booking.passengers))
                )
            ).all()
            for b in due:
                await _expire(
                    session, b, reason="HOLD_EXPIRED: not paid before the seat hold ran out"
                )
        for b in due:
            await release_holds(clients, [s.hold_id for s in b.segments])
    return len(due)


async def drive_cancellations(
    *, sessionmaker: async_sessionmaker[AsyncSession], clients: Clients, limit: int = 100
) -> int:
    """Finish every requested cancellation (after a crash, an upstream failure, a flight event)."""
    async with sessionmaker() as session:
        ids = (
            await session.scalars(
                select(Booking.id)
                .where(
                    Booking.cancel_requested_at.is_not(None),
                    Booking.status.in_((PENDING, CONFIRMED)),
                )
                .order_by(Booking.cancel_requested_at)
                .limit(limit)
            )
        ).all()
    done = 0
    for booking_id in ids:
        async with sessionmaker() as session:
            try:
                b = await drive_cancellation(
                    session=session, clients=clients, booking_id=booking_id, wait=False
                )
            except Exception as exc:  # retried on the next sweep
                log.warning("cancellation of booking %s not finished yet: %s", booking_id, exc)
                continue
            done += b is not None and b.status == CANCELLED
    return done


async def sweep_once(
    *, sessionmaker: async_sessionmaker[AsyncSession], clients: Clients
) -> dict[str, int]:
    return {
        "expired": await expire_due_bookings(sessionmaker=sessionmaker, clients=clients),
        "cancelled": await drive_cancellations(sessionmaker=sessionmaker, clients=clients),
    }
