"""Refunds: give a charged or succeeded payment's money back, in full, at most once.

Two callers: the saga, when the booking refuses to confirm a payment already charged (its hold
ran out, it was cancelled meanwhile), and the booking service, when it cancels a paid booking
(`POST /internal/payments/refund`). A refund locks the payment row, asks the gateway (which
refunds a charge once, keyed by payment id), and writes REFUNDED, the refund row and the
`payment.refunded` event in one transaction; a refund of a refunded payment is a no-op.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service.card_gateway import CardGateway
from payment_service.errors import NotRefundable, PaymentNotFound
from payment_service.models import CHARGED, REFUNDED, SUCCEEDED, Payment, PaymentRow, Refund, outbox
from payment_service.service import T, payment_event
from shared import clock
from shared.contracts.bookings import CANCELLED as BOOKING_CANCELLED
from shared.contracts.payments import PaymentRefunded
from shared.db import autocommit
from shared.events import publish


async def _lock(session: AsyncSession, payment_id: int) -> Payment:
    return (
        await session.scalars(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()


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
    async with session.begin():
        p = await _lock(session, payment_id)
        if p.status == REFUNDED:
            return p
        if p.status not in (CHARGED, SUCCEEDED):
            raise NotRefundable(f"A {p.status.lower()} payment cannot be refunded")
        refund_id = await gateway.refund(payment_id=p.id)
        now = clock.utcnow()
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
        await publish(session, outbox, payment_event(PaymentRefunded, p, reason=reason[:200]))
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
            booking_status=BOOKING_CANCELLED,
        )
    done = next((p for p in payments if p.status == REFUNDED), None)
    if done is not None:
        return done
    raise PaymentNotFound(f"Booking {booking_id} has no payment to refund")
