"""The recovery loop's work: drive every payment a crash (or an unreachable booking service)
left between two saga steps to its end, and purge expired idempotency keys.

A payment is "settled" once the booking service agrees with its outcome. `recover_once` (run
every `payment_recovery_seconds` by `main.py`) takes those unsettled for a while and replays
the saga from where each stopped: every step is idempotent, so replaying one that did happen
does nothing twice. A PENDING payment's charge is voided at the gateway, which answers whether
the charge happened and forbids a late one; a CHARGED one is confirmed (or refunded); a FAILED
one's booking is told it is payable again. Every process runs the loop; one payment is driven
by one of them at a time (`claimed`).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service.card_gateway import CardGateway
from payment_service.clients import Clients
from payment_service.models import (
    CHARGE_DECLINED,
    CHARGED,
    FAILED,
    PENDING,
    REFUNDED,
    SUCCEEDED,
    IdempotencyKey,
    PaymentRow,
)
from payment_service.saga import complete, tell_booking_failed
from payment_service.service import T, fail, mark_charged, never_deleted, read, settle
from shared import clock
from shared.db import autocommit
from shared.upstream import Relayed

log = logging.getLogger("payment.service")

_CLAIM = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")


async def recover_payment(
    *, session: AsyncSession, clients: Clients, gateway: CardGateway, payment_id: int
) -> PaymentRow | None:
    """Drive one payment left between saga steps to its end. None: there is no such payment
    (an attempt its request deleted, the booking having refused it)."""
    p = await read(session, payment_id)
    if p is None or p.settled:
        return p
    if p.status == PENDING:
        p = await _charged_or_failed(session, gateway=gateway, payment=p)
        if p is None:  # an attempt its request deleted meanwhile (the booking refused it)
            return None
    if p.status == CHARGED:
        try:
            p = await complete(session=session, clients=clients, gateway=gateway, payment=p)
        except Relayed as exc:
            log.info("payment %s refunded on recovery: %s", p.id, exc.code)
            p = never_deleted(await read(session, payment_id), payment_id)
    if p.status == FAILED and not p.settled:
        p = await tell_booking_failed(session, clients=clients, payment=p)
    elif p.status in (SUCCEEDED, REFUNDED) and not p.settled:
        p = await settle(session, p)
    return p


async def _charged_or_failed(
    session: AsyncSession, *, gateway: CardGateway, payment: PaymentRow
) -> PaymentRow | None:
    """A PENDING payment: did the charge happen before the crash? Voiding answers, and
    forbids a late charge. CHARGED or FAILED; None if the attempt was deleted meanwhile."""
    p = payment
    result = await gateway.void(payment_id=p.id, amount=p.amount, currency=p.currency)
    if result.succeeded:
        return await mark_charged(session, p, charge_id=result.charge_id)
    return await fail(
        session,
        p,
        failure_code="CARD_DECLINED" if result.status == CHARGE_DECLINED else "ABANDONED",
        decline_code=result.decline_code,
    )


async def recover_once(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    clients: Clients,
    gateway: CardGateway,
    stuck_after_seconds: float,
    limit: int = 100,
) -> int:
    """Find payments not settled for a while and drive each forward; purge old idempotency keys."""
    now = clock.utcnow()
    cutoff = now - timedelta(seconds=stuck_after_seconds)
    async with sessionmaker() as session, autocommit(session):
        ids = (
            await session.scalars(
                select(T.c.id)
                .where(T.c.settled.is_(False), T.c.updated_at <= cutoff)
                .order_by(T.c.id)
                .limit(limit)
            )
        ).all()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    for payment_id in ids:
        async with claimed(sessionmaker, payment_id) as mine, sessionmaker() as session:
            if not mine:
                continue  # another process is recovering it
            try:
                await recover_payment(
                    session=session, clients=clients, gateway=gateway, payment_id=payment_id
                )
            except Exception as exc:  # tried again on the next round
                log.warning("payment %s not recovered yet: %s", payment_id, exc)
    return len(ids)


@asynccontextmanager
async def claimed(
    sessionmaker: async_sessionmaker[AsyncSession], payment_id: int
) -> AsyncIterator[bool]:
    """Whether this process may recover the payment now: no other process is at it.

    Every process's recovery loop finds the same stuck payments; each step is safe to repeat,
    but two processes driving one payment would void, tell the booking and settle it twice.
    A transaction-level advisory lock, in a transaction of its own kept open while the payment
    is recovered, lets one of them do it; the other moves on to the next payment. The lock ends
    with that transaction (commit, rollback, or the connection lost with a dead process), so it
    cannot leak onto a pooled connection, and it works behind a transaction-mode pooler. One
    that is finished is settled by then, and skipped."""
    key = {"key": f"payments.recovery:{payment_id}"}
    async with sessionmaker() as session, session.begin():
        yield bool(await session.scalar(_CLAIM, key))
