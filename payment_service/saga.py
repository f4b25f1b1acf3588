"""The payment saga: pay a booking at most once, confirm it, or give the money back.

    PENDING (recorded, committed) -> the booking reserves itself for this payment
      -> the card is charged -> CHARGED (committed) -> the booking confirms its seats
      -> SUCCEEDED; or, if the seats cannot be confirmed, the charge is refunded -> REFUNDED.
    A decline, or a booking that refuses before the charge: FAILED (no money taken).

Each step is committed before the next starts, and every step is idempotent (the gateway keys
charges and refunds by payment id; the booking's confirm is idempotent per payment), so the
recovery loop (`recovery.py`) can pick up any payment left between steps by a crash and drive
it to an end. At most one payment per booking is in flight or succeeded: a partial unique index.

A step of our own is one statement committed by itself (`service.py`): a pay is four
statements and two calls to the booking service, which checks everything under its lock when
it reserves itself (an attempt it refuses is deleted: nothing was charged). `pay_with_key`
wraps a pay in the client's `Idempotency-Key` (`idempotency.py`).
See README.md, "The money path".
"""

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service import faults, idempotency
from payment_service.card_gateway import (
    Card,
    CardGateway,
    ChargeResult,
    default_card,
    validate_card,
)
from payment_service.clients import BookingView, Clients
from payment_service.config import PaymentSettings
from payment_service.errors import (
    AmountMismatch,
    BookingAlreadyPaid,
    BookingNotFound,
    BookingNotPayable,
    HoldExpired,
    PaymentAbandoned,
    PaymentDeclined,
    PaymentInProgress,
)
from payment_service.models import CHARGE_VOIDED, CHARGED, FAILED, PENDING, SUCCEEDED, PaymentRow
from payment_service.refunds import refund_payment
from payment_service.schemas import PaymentOut, PayRequest
from payment_service.service import T, fail, mark_charged, move, never_deleted, settle
from shared import clock
from shared.contracts import bookings as booking_status
from shared.contracts.payments import PaymentSucceeded
from shared.db import autocommit
from shared.errors import DomainError, Forbidden
from shared.money import CURRENCY, fmt
from shared.security import Principal
from shared.upstream import Relayed

log = logging.getLogger("payment.service")

IN_PROGRESS_OR_PAID = (PENDING, CHARGED, SUCCEEDED)

_OPEN = insert(T).returning(*T.c)
_OPEN_ATTEMPTS = 6
_FORGET = delete(T).where(T.c.id == bindparam("payment_id"), T.c.status == PENDING)
_EARLIER = (
    select(*T.c)
    .where(
        T.c.user_id == bindparam("user_id"),
        T.c.idempotency_key == bindparam("key"),
        T.c.booking_id == bindparam("booking_id"),
        T.c.status != FAILED,
        T.c.created_at > bindparam("since"),
    )
    .order_by(T.c.id.desc())
    .limit(1)
)


# Paying --------------------------------------------------------------------------------------


async def pay(
    *,
    session: AsyncSession,
    clients: Clients,
    gateway: CardGateway,
    settings: PaymentSettings,
    user: Principal,
    request: PayRequest,
    idempotency_key: str | None = None,
) -> tuple[int, PaymentRow]:
    """Pay a booking. Returns (201, SUCCEEDED payment), or (202, CHARGED payment) when the
    booking could not be reached to confirm (the recovery loop finishes it)."""
    if request.user_id is not None and request.user_id != user.user_id:
        raise Forbidden("userId does not match the authenticated user")
    if idempotency_key is not None:
        earlier = await _earlier(
            session, user=user, request=request, key=idempotency_key, settings=settings
        )
        if earlier is not None:
            return _http_status(earlier), earlier
    card = request.card.card() if request.card else default_card()
    validate_card(card)
    # No look at the booking first: the booking checks it all under its lock when it reserves
    # itself for this payment, and an attempt it refuses is deleted (nothing was charged).
    payment = await _open(
        session, clients=clients, user=user, request=request, card=card, key=idempotency_key
    )
    booking = await _reserve_booking(session, clients=clients, payment=payment)

    faults.crash_point(settings, "payment.before_charge")
    result = await gateway.charge(
        payment_id=payment.id, amount=payment.amount, currency=booking.currency, card=card
    )
    known = {"booking_reference": booking.reference, "currency": booking.currency}
    if not result.succeeded:
        raise await _not_charged(session, clients=clients, payment=payment, result=result, **known)
    payment = await mark_charged(session, payment, charge_id=result.charge_id, **known)
    faults.crash_point(settings, "payment.after_charge")
    payment = await complete(session=session, clients=clients, gateway=gateway, payment=payment)
    return _http_status(payment), payment


async def _earlier(
    session: AsyncSession,
    *,
    user: Principal,
    request: PayRequest,
    key: str,
    settings: PaymentSettings,
) -> PaymentRow | None:
    """A key taken over from a request that died: what that request's payment did (one that
    failed took no money, and is simply tried again)."""
    since = clock.utcnow() - timedelta(hours=settings.idempotency_ttl_hours)
    params = {"user_id": user.user_id, "key": key, "booking_id": request.booking_id}
    async with autocommit(session):
        return (await session.execute(_EARLIER, {**params, "since": since})).first()


async def _not_charged(
    session: AsyncSession,
    *,
    clients: Clients,
    payment: PaymentRow,
    result: ChargeResult,
    **known: Any,
) -> DomainError:
    """A declined or voided charge: FAILED, the booking payable again; the error to answer."""
    if result.status == CHARGE_VOIDED:  # the recovery loop gave this (slow) attempt up
        p = await fail(session, payment, failure_code="ABANDONED", **known)
        if p is not None and not p.settled:
            await tell_booking_failed(session, clients=clients, payment=p)
        return PaymentAbandoned(
            "The payment took too long and was cancelled; nothing was charged. Try again.",
            paymentId=payment.id,
        )
    p = await fail(
        session, payment, decline_code=result.decline_code, failure_code="CARD_DECLINED", **known
    )
    await tell_booking_failed(session, clients=clients, payment=p or payment)
    return PaymentDeclined(
        f"The card was declined ({result.decline_code}); the booking is still payable",
        declineCode=result.decline_code,
        paymentId=payment.id,
        bookingId=payment.booking_id,
        bookingStatus=booking_status.PENDING,
    )


def _http_status(p: PaymentRow) -> int:
    """201 paid; 202 still going (the recovery loop finishes it); 200 an attempt that ended."""
    if p.status == SUCCEEDED:
        return 201
    return 202 if p.status in (PENDING, CHARGED) else 200


# Recording the attempt -----------------------------------------------------------------------


async def _open(
    session: AsyncSession,
    *,
    clients: Clients,
    user: Principal,
    request: PayRequest,
    card: Card,
    key: str | None,
) -> PaymentRow:
    """Record the attempt (committed) under the one-in-flight-per-booking unique index.

    The booking's reference and its currency (the one currency of every fare today) are set
    from the booking's answer with the next step."""
    now = clock.utcnow()
    values = {
        "booking_id": request.booking_id,
        "user_id": user.user_id,
        "amount": request.amount,
        "currency": CURRENCY,
        "status": PENDING,
        "card_last4": card.last4,
        "card_brand": card.brand,
        # the only status the booking accepts a payment in
        "booking_status": booking_status.PENDING,
        "settled": False,
        "idempotency_key": key,
        "created_at": now,
        "updated_at": now,
    }
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            async with autocommit(session):
                return (await session.execute(_OPEN, values)).one()
        except IntegrityError as exc:
            cause = getattr(exc.orig, "__cause__", None)
            if getattr(cause, "constraint_name", None) != "uq_payments_booking_in_flight":
                raise
        # Someone else's attempt in the way is one the booking is about to refuse (a booking
        # has one owner) and delete: wait for it briefly, so that nobody can keep the owner
        # from paying by sending attempts on a booking that is not theirs.
        other = await _in_flight(session, request.booking_id)
        if other is None:
            continue  # gone already: try again at once
        if other.status != PENDING or other.user_id == user.user_id:
            break
        await asyncio.sleep(0.02 * (attempt + 1))
    raise await _in_the_way(session, clients=clients, user=user, request=request)


async def _in_flight(session: AsyncSession, booking_id: int) -> Any:
    """The booking's payment in flight or paid (status and owner), if any."""
    async with autocommit(session):
        return (
            await session.execute(
                select(T.c.status, T.c.user_id).where(
                    T.c.booking_id == booking_id, T.c.status.in_(IN_PROGRESS_OR_PAID)
                )
            )
        ).first()


async def _in_the_way(
    session: AsyncSession, *, clients: Clients, user: Principal, request: PayRequest
) -> DomainError:
    """Why an attempt could not be recorded: another one of the booking is in flight or paid.

    A payment the booking accepted (CHARGED, SUCCEEDED) shows whose booking it is. A PENDING
    one may be an attempt the booking is about to refuse (even another user's), so the booking
    is asked, and answers as it did before any attempt was recorded."""
    other = await _in_flight(session, request.booking_id)
    if other is not None and other.status != PENDING:
        if other.user_id != user.user_id:
            return BookingNotFound(f"Booking {request.booking_id} not found")
        if other.status == SUCCEEDED:
            return BookingAlreadyPaid(
                "The booking is already paid", bookingStatus=booking_status.CONFIRMED
            )
        return PaymentInProgress("A payment for this booking is in progress")
    booking = await clients.bookings.get(request.booking_id)
    _check_payable(booking, user=user, amount=request.amount, booking_id=request.booking_id)
    return PaymentInProgress("A payment for this booking is in progress")


def _check_payable(
    booking: BookingView | None, *, user: Principal, amount: Decimal, booking_id: int
) -> None:
    if booking is None or booking.user_id != user.user_id:
        raise BookingNotFound(f"Booking {booking_id} not found")
    if booking.status == booking_status.CONFIRMED:
        raise BookingAlreadyPaid("The booking is already paid", bookingStatus=booking.status)
    if booking.status == booking_status.EXPIRED:
        raise HoldExpired(
            "The booking expired: its seat hold ran out", bookingStatus=booking_status.EXPIRED
        )
    if booking.status != booking_status.PENDING:
        raise BookingNotPayable(
            f"The booking is {booking.status.lower()}", bookingStatus=booking.status
        )
    if booking.payment_in_progress:
        raise PaymentInProgress("A payment for this booking is in progress")
    if amount != booking.amount_due:
        raise AmountMismatch(
            f"The amount due is {fmt(booking.amount_due)} {booking.currency}, not {fmt(amount)}",
            amountDue=fmt(booking.amount_due),
            currency=booking.currency,
        )


# The booking reserves itself for the payment -------------------------------------------------


async def _reserve_booking(
    session: AsyncSession, *, clients: Clients, payment: PaymentRow
) -> BookingView:
    """The booking's own check under its lock (the caller's, still payable, amount still due)
    and its promise not to expire or reprice while this payment runs."""
    try:
        return await clients.bookings.start_payment(
            booking_id=payment.booking_id,
            payment_id=payment.id,
            amount=payment.amount,
            user_id=payment.user_id,
        )
    except Relayed as exc:  # the booking refused: nothing reserved, nothing charged
        await _forget(session, payment)
        raise _refusal(exc, booking_id=payment.booking_id, amount=payment.amount) from None
    except DomainError:  # unreachable: it may or may not have reserved; recovery tells it
        await fail(session, payment, failure_code="BOOKING_UNAVAILABLE")
        raise


async def _forget(session: AsyncSession, payment: PaymentRow) -> None:
    """Delete an attempt the booking refused. A refusal means the booking did not record it
    (its step is idempotent per payment: a retry of an accepted call is accepted) and nothing
    was charged (the charge comes after), so the attempt leaves no trace, as when the booking
    was checked before recording it. One the recovery loop took over meanwhile stays."""
    async with autocommit(session):
        await session.execute(_FORGET, {"payment_id": payment.id})


def _refusal(exc: Relayed, *, booking_id: int, amount: Decimal) -> DomainError:
    """The booking's refusal, answered as the payment service answers it."""
    status = exc.extra.get("bookingStatus")
    if exc.code == "BOOKING_NOT_FOUND":
        return BookingNotFound(f"Booking {booking_id} not found")
    if exc.code == "BOOKING_ALREADY_PAID":
        return BookingAlreadyPaid("The booking is already paid", bookingStatus=status)
    if exc.code == "HOLD_EXPIRED":
        return HoldExpired(
            "The seat hold expired before payment; hold the seats and book again",
            bookingStatus=booking_status.EXPIRED,
        )
    if exc.code == "BOOKING_NOT_PAYABLE" and status == booking_status.EXPIRED:
        return HoldExpired(
            "The booking expired: its seat hold ran out", bookingStatus=booking_status.EXPIRED
        )
    if exc.code == "AMOUNT_MISMATCH" and "amountDue" in exc.extra:
        due, currency = exc.extra["amountDue"], exc.extra.get("currency")
        return AmountMismatch(
            f"The amount due is {due} {currency}, not {fmt(amount)}",
            amountDue=due,
            currency=currency,
        )
    return exc


async def tell_booking_failed(
    session: AsyncSession, *, clients: Clients, payment: PaymentRow
) -> PaymentRow:
    """The booking is payable again; if it cannot be told now, the recovery loop tells it."""
    try:
        await clients.bookings.payment_failed(booking_id=payment.booking_id, payment_id=payment.id)
    except DomainError as exc:
        log.warning(
            "booking %s not told of failed payment %s: %s", payment.booking_id, payment.id, exc
        )
        return payment
    return await settle(session, payment)


# Confirming the booking ----------------------------------------------------------------------


async def complete(
    *, session: AsyncSession, clients: Clients, gateway: CardGateway, payment: PaymentRow
) -> PaymentRow:
    """Confirm a CHARGED payment's booking -> SUCCEEDED; if the booking refuses (hold expired,
    cancelled meanwhile) refund -> REFUNDED and raise the booking's reason. If the booking is
    unreachable, the payment stays CHARGED for the recovery loop."""
    p = payment
    if p.status != CHARGED:
        return p
    try:
        booking = await clients.bookings.confirm(booking_id=p.booking_id, payment_id=p.id)
    except Relayed as exc:
        if exc.status not in (404, 409):  # not a decision about this booking: try again later
            log.error("payment %s: booking confirm answered %s %s", p.id, exc.status, exc.code)
            return p
        raise await _refund_refused(session, gateway=gateway, payment=p, exc=exc) from None
    except DomainError as exc:
        log.warning("payment %s charged, booking not confirmed yet: %s", p.id, exc)
        return p
    now = clock.utcnow()
    done = await move(
        session,
        p,
        from_status=CHARGED,
        event=PaymentSucceeded,
        status=SUCCEEDED,
        settled=True,
        booking_status=booking.status,
        succeeded_at=now,
        updated_at=now,
    )
    return never_deleted(done, p.id)


async def _refund_refused(
    session: AsyncSession, *, gateway: CardGateway, payment: PaymentRow, exc: Relayed
) -> Relayed:
    """The booking cannot be confirmed: give the money back; the booking's reason to raise."""
    status = exc.extra.get("bookingStatus") or (
        booking_status.EXPIRED if exc.code == "HOLD_EXPIRED" else None
    )
    refunded = await refund_payment(
        session=session,
        gateway=gateway,
        payment_id=payment.id,
        reason=f"{exc.code}: {exc.detail}",
        failure_code=exc.code,
        booking_status=status,
    )
    return Relayed(
        status=409,
        code=exc.code,
        title=exc.title,
        detail=f"{exc.detail}; the payment of {fmt(refunded.amount)} {refunded.currency} "
        "was refunded",
        extra={
            **exc.extra,
            "paymentId": refunded.id,
            "paymentStatus": refunded.status,
            "refunded": True,
            "bookingStatus": status,
        },
    )


# The Idempotency-Key wrapper -----------------------------------------------------------------


async def pay_with_key(
    *,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clients: Clients,
    gateway: CardGateway,
    settings: PaymentSettings,
    user: Principal,
    request: PayRequest,
    idempotency_key: str | None,
    instance: str,
    hash_key: bytes,
) -> idempotency.Response:
    """`pay`, at most once per `Idempotency-Key` when the client sends one. Requests are
    compared by a hash keyed with `hash_key` (a card number is never stored in the clear)."""

    async def execute() -> idempotency.Response:
        status, payment = await pay(
            session=session,
            clients=clients,
            gateway=gateway,
            settings=settings,
            user=user,
            request=request,
            idempotency_key=idempotency_key,
        )
        return idempotency.Response(
            status, PaymentOut.of(payment).model_dump(mode="json", by_alias=True)
        )

    if idempotency_key is None:
        return await execute()
    key = idempotency.check_key(idempotency_key)
    digest = idempotency.request_hash(
        hash_key,
        {"path": instance, **request.model_dump(mode="json")},
    )
    return await idempotency.run_once(
        sessionmaker=sessionmaker,
        user_id=user.user_id,
        key=key,
        digest=digest,
        instance=instance,
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        lock=timedelta(seconds=settings.idempotency_lock_seconds),
        execute=execute,
    )
