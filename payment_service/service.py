"""The payment saga: pay a booking at most once, confirm it, or give the money back.

    PENDING (recorded, committed) -> the booking reserves itself for this payment
      -> the card is charged -> CHARGED (committed) -> the booking confirms its seats
      -> SUCCEEDED; or, if the seats cannot be confirmed, the charge is refunded -> REFUNDED.
    A decline, or a booking that refuses before the charge: FAILED (no money taken).

Each step is committed before the next starts, and every step is idempotent (the gateway keys
charges and refunds by payment id; the booking's confirm is idempotent per payment), so the
recovery loop can pick up any payment left between steps by a crash and drive it to an end.
At most one payment per booking is in flight or succeeded: a partial unique index.

A step of our own is one statement committed by itself (`statements.py`): a pay is four
statements and two calls to the booking service, which checks everything under its lock when
it reserves itself (an attempt it refuses is deleted: nothing was charged).
See booking_service/README-saga.md.
"""

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from payment_service import idempotency
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
    NotRefundable,
    PaymentAbandoned,
    PaymentDeclined,
    PaymentInProgress,
    PaymentNotFound,
    Relayed,
)
from payment_service.models import (
    CHARGED,
    FAILED,
    PENDING,
    REFUNDED,
    SUCCEEDED,
    IdempotencyKey,
    Payment,
    PaymentRow,
    Refund,
    outbox,
)
from payment_service.schemas import PaymentOut, PayRequest
from shared.db import autocommit
from shared.errors import DomainError, Forbidden
from shared.events import event_params, publish, published
from shared.money import CURRENCY, fmt
from shared.security import Principal

log = logging.getLogger("payment.service")

IN_PROGRESS_OR_PAID = (PENDING, CHARGED, SUCCEEDED)

# The saga's steps read and write payments as Core rows (`PaymentRow`) through statements built
# once: an ORM load, or building a statement, costs more CPU than the statement's round trip.
T = Payment.__table__
_OPEN = insert(T).returning(*T.c)
_ONE = select(*T.c).where(T.c.id == bindparam("payment_id"))
_SETTLE = update(T).where(T.c.id == bindparam("payment_id")).values(settled=True).returning(*T.c)
_FORGET = delete(T).where(T.c.id == bindparam("payment_id"), T.c.status == PENDING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_payload(p: PaymentRow, **extra: Any) -> dict[str, Any]:
    return {
        "paymentId": p.id,
        "bookingId": p.booking_id,
        "reference": p.booking_reference,
        "userId": p.user_id,
        "status": p.status,
        "amount": fmt(p.amount),
        "currency": p.currency,
        "cardLast4": p.card_last4,
        "cardBrand": p.card_brand,
        "declineCode": p.decline_code,
        "failureCode": p.failure_code,
        "bookingStatus": p.booking_status,
        **extra,
    }


def crash_point(settings: PaymentSettings, point: str) -> None:
    """Test only (the e2e kill test): die here, as a crash would, if configured to."""
    if settings.fault_injection == point:
        log.error("fault injection: exiting at %s", point)
        os._exit(75)


async def _lock(session: AsyncSession, payment_id: int) -> Payment:
    return (
        await session.scalars(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()


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

    crash_point(settings, "payment.before_charge")
    result = await gateway.charge(
        payment_id=payment.id, amount=payment.amount, currency=booking.currency, card=card
    )
    known = {"booking_reference": booking.reference, "currency": booking.currency}
    if not result.succeeded:
        raise await _not_charged(session, clients=clients, payment=payment, result=result, **known)
    payment = await _charged(session, payment, charge_id=result.charge_id, **known)
    crash_point(settings, "payment.after_charge")
    payment = await complete(session=session, clients=clients, gateway=gateway, payment=payment)
    return _http_status(payment), payment


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
    since = utcnow() - timedelta(hours=settings.idempotency_ttl_hours)
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
    if result.status == "voided":  # the recovery loop gave this (slow) attempt up
        p = await _fail(session, payment, failure_code="ABANDONED", **known)
        if p is not None and not p.settled:
            await _tell_booking_failed(session, clients=clients, payment=p)
        return PaymentAbandoned(
            "The payment took too long and was cancelled; nothing was charged. Try again.",
            paymentId=payment.id,
        )
    p = await _fail(
        session, payment, decline_code=result.decline_code, failure_code="CARD_DECLINED", **known
    )
    await _tell_booking_failed(session, clients=clients, payment=p or payment)
    return PaymentDeclined(
        f"The card was declined ({result.decline_code}); the booking is still payable",
        declineCode=result.decline_code,
        paymentId=payment.id,
        bookingId=payment.booking_id,
        bookingStatus="PENDING",
    )


def _http_status(p: PaymentRow) -> int:
    """201 paid; 202 still going (the recovery loop finishes it); 200 an attempt that ended."""
    if p.status == SUCCEEDED:
        return 201
    return 202 if p.status in (PENDING, CHARGED) else 200


def _check_payable(
    booking: BookingView | None, *, user: Principal, amount: Decimal, booking_id: int
) -> None:
    if booking is None or booking.user_id != user.user_id:
        raise BookingNotFound(f"Booking {booking_id} not found")
    if booking.status == "CONFIRMED":
        raise BookingAlreadyPaid("The booking is already paid", bookingStatus=booking.status)
    if booking.status == "EXPIRED":
        raise HoldExpired("The booking expired: its seat hold ran out", bookingStatus="EXPIRED")
    if booking.status != "PENDING":
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
    now = utcnow()
    values = {
        "booking_id": request.booking_id,
        "user_id": user.user_id,
        "amount": request.amount,
        "currency": CURRENCY,
        "status": PENDING,
        "card_last4": card.last4,
        "card_brand": card.brand,
        "booking_status": "PENDING",  # the only status the booking accepts a payment in
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


_OPEN_ATTEMPTS = 6


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
            return BookingAlreadyPaid("The booking is already paid", bookingStatus="CONFIRMED")
        return PaymentInProgress("A payment for this booking is in progress")
    booking = await clients.bookings.get(request.booking_id)
    _check_payable(booking, user=user, amount=request.amount, booking_id=request.booking_id)
    return PaymentInProgress("A payment for this booking is in progress")


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
        await _fail(session, payment, failure_code="BOOKING_UNAVAILABLE")
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
            bookingStatus="EXPIRED",
        )
    if exc.code == "BOOKING_NOT_PAYABLE" and status == "EXPIRED":
        return HoldExpired("The booking expired: its seat hold ran out", bookingStatus="EXPIRED")
    if exc.code == "AMOUNT_MISMATCH" and "amountDue" in exc.extra:
        due, currency = exc.extra["amountDue"], exc.extra.get("currency")
        return AmountMismatch(
            f"The amount due is {due} {currency}, not {fmt(amount)}",
            amountDue=due,
            currency=currency,
        )
    return exc


# Each step of the saga: one statement --------------------------------------------------------


@cache
def _move_statement(keys: tuple[str, ...], with_event: bool) -> Executable:
    """UPDATE the payment if still in `from_status` (RETURNING the row), and the event if
    it moved; the parameters are payment_id, from_status, new_<column> and `event_params`."""
    moved = (
        update(T)
        .where(T.c.id == bindparam("payment_id"), T.c.status == bindparam("from_status"))
        .values({k: bindparam(f"new_{k}", type_=T.c[k].type) for k in keys})
        .returning(*T.c)
    )
    if not with_event:
        return moved
    cte = moved.cte("moved")
    return select(cte, published(outbox, cte))


_PAYLOAD_NAMES = {
    "status": "status",
    "booking_reference": "reference",
    "currency": "currency",
    "decline_code": "declineCode",
    "failure_code": "failureCode",
    "booking_status": "bookingStatus",
}


async def _move(
    session: AsyncSession,
    payment: PaymentRow,
    *,
    from_status: str,
    event: str | None = None,
    **values: Any,
) -> PaymentRow | None:
    """Move `payment` from `from_status` (set `values`; record `event`), as one statement.

    Returns the row as it now is: moved, or as another step left it (None if deleted)."""
    stmt = _move_statement(tuple(sorted(values)), event is not None)
    params = {"payment_id": payment.id, "from_status": from_status}
    params.update((f"new_{k}", v) for k, v in values.items())
    if event is not None:
        changes = {_PAYLOAD_NAMES[k]: v for k, v in values.items() if k in _PAYLOAD_NAMES}
        params.update(event_params(event, {**event_payload(payment), **changes}))
    async with autocommit(session):
        row = (await session.execute(stmt, params)).first()
        if row is None:
            row = (await session.execute(_ONE, {"payment_id": payment.id})).first()
    return row


async def _read(session: AsyncSession, payment_id: int) -> PaymentRow | None:
    async with autocommit(session):
        return (await session.execute(_ONE, {"payment_id": payment_id})).first()


async def _fail(
    session: AsyncSession,
    payment: PaymentRow,
    *,
    failure_code: str,
    decline_code: str | None = None,
    **known: Any,
) -> PaymentRow | None:
    return await _move(
        session,
        payment,
        from_status=PENDING,
        event="payment.failed",
        status=FAILED,
        failure_code=failure_code,
        decline_code=decline_code,
        updated_at=utcnow(),
        **known,
    )


async def _tell_booking_failed(
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
    return await _settle(session, payment)


async def _settle(session: AsyncSession, payment: PaymentRow) -> PaymentRow:
    """The booking agrees with the payment's outcome: the recovery loop is done with it."""
    async with autocommit(session):
        return (await session.execute(_SETTLE, {"payment_id": payment.id})).one()


async def _charged(
    session: AsyncSession, payment: PaymentRow, *, charge_id: str, **known: Any
) -> PaymentRow:
    now = utcnow()
    p = await _move(
        session,
        payment,
        from_status=PENDING,
        status=CHARGED,
        gateway_charge_id=charge_id,
        charged_at=now,
        updated_at=now,
        **known,
    )
    assert p is not None  # a charged attempt is never deleted
    return p


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
    now = utcnow()
    done = await _move(
        session,
        p,
        from_status=CHARGED,
        event="payment.succeeded",
        status=SUCCEEDED,
        settled=True,
        booking_status=booking.status,
        succeeded_at=now,
        updated_at=now,
    )
    assert done is not None  # a charged payment is never deleted
    return done


async def _refund_refused(
    session: AsyncSession, *, gateway: CardGateway, payment: PaymentRow, exc: Relayed
) -> Relayed:
    """The booking cannot be confirmed: give the money back; the booking's reason to raise."""
    status = exc.extra.get("bookingStatus") or ("EXPIRED" if exc.code == "HOLD_EXPIRED" else None)
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


# Refunds -------------------------------------------------------------------------------------


async def refund_payment(
    *,
    session: AsyncSession,
    gateway: CardGateway,
    payment_id: int,
    reason: str,
    booking_status: str | None,
    failure_code: str | None = None,
) -> Payment:
    """Refund a charged or succeeded payment in full (idempotent)."""
    p = await _lock(session, payment_id)
    if p.status == REFUNDED:
        await session.commit()
        return p
    if p.status not in (CHARGED, SUCCEEDED):
        await session.rollback()
        raise NotRefundable(f"A {p.status.lower()} payment cannot be refunded")
    refund_id = await gateway.refund(payment_id=p.id)
    now = utcnow()
    p.status = REFUNDED
    p.refunded_at = p.updated_at = now
    p.settled = True
    if failure_code:
        p.failure_code = failure_code
    if booking_status:
        p.booking_status = booking_status
    session.add(
        Refund(
            payment_id=p.id,
            booking_id=p.booking_id,
            amount=p.amount,
            currency=p.currency,
            reason=reason[:200],
            gateway_refund_id=refund_id,
            created_at=now,
        )
    )
    await publish(
        session, outbox, type="payment.refunded", payload=event_payload(p, reason=reason[:200])
    )
    await session.commit()
    return p


async def refund_booking(
    *, session: AsyncSession, gateway: CardGateway, booking_id: int, reason: str | None
) -> PaymentRow:
    """The booking service cancels a paid booking: refund its payment (idempotent)."""
    async with autocommit(session):
        payments = (
            await session.execute(
                select(*T.c).where(T.c.booking_id == booking_id).order_by(T.c.id.desc())
            )
        ).all()
    live = next((p for p in payments if p.status in (CHARGED, SUCCEEDED)), None)
    if live is not None:
        return await refund_payment(
            session=session,
            gateway=gateway,
            payment_id=live.id,
            reason=reason or "BOOKING_CANCELLED",
            booking_status="CANCELLED",
        )
    done = next((p for p in payments if p.status == REFUNDED), None)
    if done is not None:
        return done
    raise PaymentNotFound(f"Booking {booking_id} has no payment to refund")


# Reading (one statement each: no transaction around it) ---------------------------------------


async def get_payment(*, session: AsyncSession, payment_id: int, user: Principal) -> PaymentRow:
    p = await _read(session, payment_id)
    if p is None or (p.user_id != user.user_id and not user.is_admin):
        raise PaymentNotFound(f"Payment {payment_id} not found")
    return p


async def get_payment_internal(*, session: AsyncSession, payment_id: int) -> PaymentRow:
    p = await _read(session, payment_id)
    if p is None:
        raise PaymentNotFound(f"Payment {payment_id} not found")
    return p


async def list_payments(
    *, session: AsyncSession, user: Principal, booking_id: int | None, limit: int
) -> list[PaymentRow]:
    query = select(*T.c).where(T.c.user_id == user.user_id)
    if booking_id is not None:
        query = query.where(T.c.booking_id == booking_id)
    async with autocommit(session):
        return list((await session.execute(query.order_by(T.c.id.desc()).limit(limit))).all())


# Recovery ------------------------------------------------------------------------------------


async def recover_payment(
    *, session: AsyncSession, clients: Clients, gateway: CardGateway, payment_id: int
) -> PaymentRow | None:
    """Drive one payment left between saga steps to its end."""
    p = await _read(session, payment_id)
    if p is None or p.settled:
        return p
    if p.status == PENDING:
        # Did the charge happen before the crash? Voiding answers, and forbids a late charge.
        result = await gateway.void(payment_id=p.id, amount=p.amount, currency=p.currency)
        if result.succeeded:
            p = await _charged(session, p, charge_id=result.charge_id)
        else:
            p = await _fail(
                session,
                p,
                failure_code="CARD_DECLINED" if result.status == "declined" else "ABANDONED",
                decline_code=result.decline_code,
            )
            if p is None:  # an attempt its request deleted meanwhile (the booking refused it)
                return None
    if p.status == CHARGED:
        try:
            p = await complete(session=session, clients=clients, gateway=gateway, payment=p)
        except Relayed as exc:
            log.info("payment %s refunded on recovery: %s", p.id, exc.code)
            p = await _read(session, payment_id)  # type: ignore[assignment]
    if p.status == FAILED and not p.settled:
        p = await _tell_booking_failed(session, clients=clients, payment=p)
    elif p.status in (SUCCEEDED, REFUNDED) and not p.settled:
        p = await _settle(session, p)
    return p


async def recover_once(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    clients: Clients,
    gateway: CardGateway,
    stuck_after_seconds: float,
    limit: int = 100,
) -> int:
    """Find payments not settled for a while and drive each forward; purge old idempotency keys."""
    cutoff = utcnow() - timedelta(seconds=stuck_after_seconds)
    async with sessionmaker() as session, autocommit(session):
        ids = (
            await session.scalars(
                select(T.c.id)
                .where(T.c.settled.is_(False), T.c.updated_at <= cutoff)
                .order_by(T.c.id)
                .limit(limit)
            )
        ).all()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
    for payment_id in ids:
        async with sessionmaker() as session:
            try:
                await recover_payment(
                    session=session, clients=clients, gateway=gateway, payment_id=payment_id
                )
            except Exception as exc:  # tried again on the next round
                log.warning("payment %s not recovered yet: %s", payment_id, exc)
    return len(ids)
