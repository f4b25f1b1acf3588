"""The payment saga: pay a booking at most once, confirm it, or give the money back.

    PENDING (recorded, committed) -> the booking reserves itself for this payment
      -> the card is charged -> CHARGED (committed) -> the booking confirms its seats
      -> SUCCEEDED; or, if the seats cannot be confirmed, the charge is refunded -> REFUNDED.
    A decline, or a booking that refuses before the charge: FAILED (no money taken).

Each step is committed before the next starts, and every step is idempotent (the gateway keys
charges and refunds by payment id; the booking's confirm is idempotent per payment), so the
recovery loop can pick up any payment left between steps by a crash and drive it to an end.
At most one payment per booking is in flight or succeeded: a partial unique index.
See booking_service/README-saga.md.
"""

import logging
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service import idempotency
from payment_service.card_gateway import Card, CardGateway, default_card, validate_card
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
    Refund,
    outbox,
)
from payment_service.schemas import PaymentOut, PayRequest
from shared.errors import DomainError, Forbidden
from shared.events import publish
from shared.money import fmt
from shared.security import Principal

log = logging.getLogger("payment.service")

IN_PROGRESS_OR_PAID = (PENDING, CHARGED, SUCCEEDED)


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_payload(p: Payment, **extra: Any) -> dict[str, Any]:
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
) -> tuple[int, Payment]:
    """Pay a booking. Returns (201, SUCCEEDED payment), or (202, CHARGED payment) when the
    booking could not be reached to confirm (the recovery loop finishes it)."""
    if request.user_id is not None and request.user_id != user.user_id:
        raise Forbidden("userId does not match the authenticated user")
    if idempotency_key is not None:
        # A key taken over from a request that died: report what that request's payment did
        # (one that failed took no money, and is simply tried again).
        earlier = (
            await session.scalars(
                select(Payment)
                .where(
                    Payment.user_id == user.user_id,
                    Payment.idempotency_key == idempotency_key,
                    Payment.booking_id == request.booking_id,
                    Payment.status != FAILED,
                    Payment.created_at > utcnow() - timedelta(hours=settings.idempotency_ttl_hours),
                )
                .order_by(Payment.id.desc())
            )
        ).first()
        await session.commit()
        if earlier is not None:
            return _http_status(earlier), earlier
    card = request.card.card() if request.card else default_card()
    validate_card(card)
    booking = await clients.bookings.get(request.booking_id)
    _check_payable(booking, user=user, amount=request.amount, booking_id=request.booking_id)
    assert booking is not None
    if booking.expires_at <= utcnow():
        try:
            await clients.bookings.expire(booking_id=booking.id)
        except DomainError as exc:  # the sweeper expires it anyway
            log.warning("could not expire booking %s: %s", booking.id, exc)
        raise HoldExpired(
            "The seat hold expired before payment; hold the seats and book again",
            bookingStatus="EXPIRED",
        )

    payment = await _open(session, booking=booking, card=card, idempotency_key=idempotency_key)
    await _reserve_booking(session, clients=clients, payment=payment)

    crash_point(settings, "payment.before_charge")
    result = await gateway.charge(
        payment_id=payment.id, amount=payment.amount, currency=payment.currency, card=card
    )
    if result.status == "voided":  # the recovery loop gave this (slow) attempt up
        payment = await _fail(session, payment.id, failure_code="ABANDONED")
        if not payment.settled:
            await _tell_booking_failed(session, clients=clients, payment=payment)
        raise PaymentAbandoned(
            "The payment took too long and was cancelled; nothing was charged. Try again.",
            paymentId=payment.id,
        )
    if not result.succeeded:
        payment = await _fail(
            session, payment.id, decline_code=result.decline_code, failure_code="CARD_DECLINED"
        )
        await _tell_booking_failed(session, clients=clients, payment=payment)
        raise PaymentDeclined(
            f"The card was declined ({result.decline_code}); the booking is still payable",
            declineCode=result.decline_code,
            paymentId=payment.id,
            bookingId=payment.booking_id,
            bookingStatus="PENDING",
        )
    payment = await _charged(session, payment.id, charge_id=result.charge_id)
    crash_point(settings, "payment.after_charge")
    payment = await complete(
        session=session, clients=clients, gateway=gateway, payment_id=payment.id
    )
    return _http_status(payment), payment


def _http_status(p: Payment) -> int:
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
    session: AsyncSession, *, booking: BookingView, card: Card, idempotency_key: str | None
) -> Payment:
    """Record the attempt (committed) under the one-in-flight-per-booking unique index."""
    now = utcnow()
    payment = Payment(
        booking_id=booking.id,
        booking_reference=booking.reference,
        user_id=booking.user_id,
        amount=booking.amount_due,
        currency=booking.currency,
        status=PENDING,
        card_last4=card.last4,
        card_brand=card.brand,
        booking_status=booking.status,
        settled=False,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        cause = getattr(exc.orig, "__cause__", None)
        if getattr(cause, "constraint_name", None) != "uq_payments_booking_in_flight":
            raise
        other = (
            await session.scalars(
                select(Payment.status).where(
                    Payment.booking_id == booking.id, Payment.status.in_(IN_PROGRESS_OR_PAID)
                )
            )
        ).first()
        await session.rollback()
        if other == SUCCEEDED:
            raise BookingAlreadyPaid("The booking is already paid") from None
        raise PaymentInProgress("A payment for this booking is in progress") from None
    return payment


async def _reserve_booking(session: AsyncSession, *, clients: Clients, payment: Payment) -> None:
    """The booking's own check under its lock (still payable, amount still due) and its
    promise not to expire or reprice while this payment runs."""
    try:
        await clients.bookings.start_payment(
            booking_id=payment.booking_id,
            payment_id=payment.id,
            amount=payment.amount,
            user_id=payment.user_id,
        )
    except Relayed as exc:  # the booking refused: nothing reserved, nothing charged
        await _fail(
            session,
            payment.id,
            failure_code=exc.code,
            settled=True,
            booking_status=exc.extra.get("bookingStatus"),
        )
        raise
    except DomainError:  # unreachable: it may or may not have reserved; recovery tells it
        await _fail(session, payment.id, failure_code="BOOKING_UNAVAILABLE")
        raise


async def _fail(
    session: AsyncSession,
    payment_id: int,
    *,
    failure_code: str,
    decline_code: str | None = None,
    settled: bool = False,
    booking_status: str | None = None,
) -> Payment:
    p = await _lock(session, payment_id)
    if p.status == PENDING:
        p.status = FAILED
        p.failure_code = failure_code
        p.decline_code = decline_code
        p.settled = settled
        if booking_status:
            p.booking_status = booking_status
        p.updated_at = utcnow()
        await publish(session, outbox, type="payment.failed", payload=event_payload(p))
    await session.commit()
    return p


async def _tell_booking_failed(
    session: AsyncSession, *, clients: Clients, payment: Payment
) -> None:
    """The booking is payable again; if it cannot be told now, the recovery loop tells it."""
    try:
        await clients.bookings.payment_failed(booking_id=payment.booking_id, payment_id=payment.id)
    except DomainError as exc:
        log.warning(
            "booking %s not told of failed payment %s: %s", payment.booking_id, payment.id, exc
        )
        return
    p = await _lock(session, payment.id)
    p.settled = True
    await session.commit()


async def _charged(session: AsyncSession, payment_id: int, *, charge_id: str) -> Payment:
    p = await _lock(session, payment_id)
    if p.status == PENDING:
        p.status = CHARGED
        p.gateway_charge_id = charge_id
        p.charged_at = p.updated_at = utcnow()
    await session.commit()
    return p


async def complete(
    *, session: AsyncSession, clients: Clients, gateway: CardGateway, payment_id: int
) -> Payment:
    """Confirm a CHARGED payment's booking -> SUCCEEDED; if the booking refuses (hold expired,
    cancelled meanwhile) refund -> REFUNDED and raise the booking's reason. If the booking is
    unreachable, the payment stays CHARGED for the recovery loop."""
    p = await session.get(Payment, payment_id, populate_existing=True)
    await session.commit()
    if p is None or p.status != CHARGED:
        return p  # type: ignore[return-value]
    try:
        booking = await clients.bookings.confirm(booking_id=p.booking_id, payment_id=p.id)
    except Relayed as exc:
        if exc.status not in (404, 409):  # not a decision about this booking: try again later
            log.error("payment %s: booking confirm answered %s %s", p.id, exc.status, exc.code)
            return p
        status = exc.extra.get("bookingStatus") or (
            "EXPIRED" if exc.code == "HOLD_EXPIRED" else None
        )
        refunded = await refund_payment(
            session=session,
            gateway=gateway,
            payment_id=p.id,
            reason=f"{exc.code}: {exc.detail}",
            failure_code=exc.code,
            booking_status=status,
        )
        raise Relayed(
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
        ) from None
    except DomainError as exc:
        log.warning("payment %s charged, booking not confirmed yet: %s", p.id, exc)
        return p
    p = await _lock(session, payment_id)
    if p.status == CHARGED:
        p.status = SUCCEEDED
        p.settled = True
        p.booking_status = booking.status
        p.succeeded_at = p.updated_at = utcnow()
        await publish(session, outbox, type="payment.succeeded", payload=event_payload(p))
    await session.commit()
    return p


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
) -> idempotency.Response:
    """`pay`, at most once per `Idempotency-Key` when the client sends one."""

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
        settings.service_token_secret.get_secret_value(),
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
) -> Payment:
    """The booking service cancels a paid booking: refund its payment (idempotent)."""
    payments = (
        await session.scalars(
            select(Payment).where(Payment.booking_id == booking_id).order_by(Payment.id.desc())
        )
    ).all()
    await session.commit()
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


# Reading -------------------------------------------------------------------------------------


async def get_payment(*, session: AsyncSession, payment_id: int, user: Principal) -> Payment:
    p = await session.get(Payment, payment_id)
    if p is None or (p.user_id != user.user_id and not user.is_admin):
        raise PaymentNotFound(f"Payment {payment_id} not found")
    return p


async def get_payment_internal(*, session: AsyncSession, payment_id: int) -> Payment:
    p = await session.get(Payment, payment_id)
    if p is None:
        raise PaymentNotFound(f"Payment {payment_id} not found")
    return p


async def list_payments(
    *, session: AsyncSession, user: Principal, booking_id: int | None, limit: int
) -> list[Payment]:
    query = select(Payment).where(Payment.user_id == user.user_id)
    if booking_id is not None:
        query = query.where(Payment.booking_id == booking_id)
    return list((await session.scalars(query.order_by(Payment.id.desc()).limit(limit))).all())


# Recovery ------------------------------------------------------------------------------------


async def recover_payment(
    *, session: AsyncSession, clients: Clients, gateway: CardGateway, payment_id: int
) -> Payment:
    """Drive one payment left between saga steps to its end."""
    p = await session.get(Payment, payment_id, populate_existing=True)
    await session.commit()
    if p is None or p.settled:
        return p  # type: ignore[return-value]
    if p.status == PENDING:
        # Did the charge happen before the crash? Voiding answers, and forbids a late charge.
        result = await gateway.void(payment_id=p.id, amount=p.amount, currency=p.currency)
        if result.succeeded:
            p = await _charged(session, p.id, charge_id=result.charge_id)
        else:
            p = await _fail(
                session,
                p.id,
                failure_code="CARD_DECLINED" if result.status == "declined" else "ABANDONED",
                decline_code=result.decline_code,
            )
    if p.status == CHARGED:
        try:
            p = await complete(session=session, clients=clients, gateway=gateway, payment_id=p.id)
        except Relayed as exc:
            log.info("payment %s refunded on recovery: %s", p.id, exc.code)
            p = await session.get(Payment, payment_id, populate_existing=True)  # type: ignore[assignment]
            await session.commit()
    if p.status == FAILED and not p.settled:
        await _tell_booking_failed(session, clients=clients, payment=p)
    elif p.status in (SUCCEEDED, REFUNDED) and not p.settled:
        p = await _lock(session, p.id)
        p.settled = True
        await session.commit()
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
    async with sessionmaker() as session:
        ids = (
            await session.scalars(
                select(Payment.id)
                .where(Payment.settled.is_(False), Payment.updated_at <= cutoff)
                .order_by(Payment.id)
                .limit(limit)
            )
        ).all()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
        await session.commit()
    for payment_id in ids:
        async with sessionmaker() as session:
            try:
                await recover_payment(
                    session=session, clients=clients, gateway=gateway, payment_id=payment_id
                )
            except Exception as exc:  # tried again on the next round
                log.warning("payment %s not recovered yet: %s", payment_id, exc)
    return len(ids)
