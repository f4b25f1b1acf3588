"""Payments as rows: the one-statement steps every flow moves a payment with, and the reads.

The flows are their own modules: `saga.py` pays a booking (record, reserve, charge, confirm),
`refunds.py` gives the money back, `recovery.py` drives a payment a crash left between steps
to its end. They all read and write a payment through what is here, so a payment's states and
its events are written one way only.

A step is one statement committed by itself (`autocommit`): the saga commits each step before
the next starts, and the recovery loop can pick up any payment between two of them. Steps
work on Core rows (`PaymentRow`) through statements built once: an ORM load, or building a
statement, costs more CPU than the statement's round trip. Reads are one statement each, with
no transaction around them.
"""

from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from payment_service.errors import PaymentNotFound
from payment_service.models import CHARGED, FAILED, PENDING, Payment, PaymentRow, outbox
from shared import clock
from shared.contracts.payments import PaymentEvent, PaymentFailed
from shared.db import autocommit
from shared.events import event_params, published
from shared.security import Principal

E = TypeVar("E", bound=PaymentEvent)
T = cast(Table, Payment.__table__)
_ONE = select(*T.c).where(T.c.id == bindparam("payment_id"))
_SETTLE = update(T).where(T.c.id == bindparam("payment_id")).values(settled=True).returning(*T.c)


def payment_event(
    contract: type[E], p: PaymentRow, *, changes: Mapping[str, Any] | None = None, **extra: Any
) -> E:
    """The `payment.*` event `contract` of `p` with the column values `changes` applied (a step
    records its event in the very UPDATE that makes them); `extra`: the contract's own fields."""
    new = changes or {}

    def column(name: str) -> Any:
        return new[name] if name in new else getattr(p, name)

    return contract(
        payment_id=p.id,
        booking_id=p.booking_id,
        reference=column("booking_reference"),
        user_id=p.user_id,
        status=column("status"),
        amount=column("amount"),
        currency=column("currency"),
        card_last4=column("card_last4"),
        card_brand=column("card_brand"),
        decline_code=column("decline_code"),
        failure_code=column("failure_code"),
        booking_status=column("booking_status"),
        **extra,
    )


def never_deleted(row: PaymentRow | None, payment_id: int) -> PaymentRow:
    """A payment past PENDING is never deleted (only a refused attempt is): `row` itself."""
    if row is None:
        raise RuntimeError(f"payment {payment_id} was deleted after it was charged")
    return row


# Moving a payment: one statement each ---------------------------------------------------------


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


async def move(
    session: AsyncSession,
    payment: PaymentRow,
    *,
    from_status: str,
    event: type[PaymentEvent] | None = None,
    **values: Any,
) -> PaymentRow | None:
    """Move `payment` from `from_status` (set `values`; record the `event` contract of the row
    as moved), as one statement.

    Returns the row as it now is: moved, or as another step left it (None if deleted)."""
    stmt = _move_statement(tuple(sorted(values)), event is not None)
    params = {"payment_id": payment.id, "from_status": from_status}
    params.update((f"new_{k}", v) for k, v in values.items())
    if event is not None:
        params.update(event_params(payment_event(event, payment, changes=values)))
    async with autocommit(session):
        row = (await session.execute(stmt, params)).first()
        if row is None:
            row = (await session.execute(_ONE, {"payment_id": payment.id})).first()
    return row


async def fail(
    session: AsyncSession,
    payment: PaymentRow,
    *,
    failure_code: str,
    decline_code: str | None = None,
    **known: Any,
) -> PaymentRow | None:
    """PENDING -> FAILED (no money taken), with its event; None if the attempt was deleted."""
    return await move(
        session,
        payment,
        from_status=PENDING,
        event=PaymentFailed,
        status=FAILED,
        failure_code=failure_code,
        decline_code=decline_code,
        updated_at=clock.utcnow(),
        **known,
    )


async def mark_charged(
    session: AsyncSession, payment: PaymentRow, *, charge_id: str, **known: Any
) -> PaymentRow:
    """PENDING -> CHARGED: the money is taken (or the row as another step left it)."""
    now = clock.utcnow()
    p = await move(
        session,
        payment,
        from_status=PENDING,
        status=CHARGED,
        gateway_charge_id=charge_id,
        charged_at=now,
        updated_at=now,
        **known,
    )
    return never_deleted(p, payment.id)


async def settle(session: AsyncSession, payment: PaymentRow) -> PaymentRow:
    """The booking agrees with the payment's outcome: the recovery loop is done with it."""
    async with autocommit(session):
        return (await session.execute(_SETTLE, {"payment_id": payment.id})).one()


# Reading (one statement each: no transaction around it) ---------------------------------------


async def read(session: AsyncSession, payment_id: int) -> PaymentRow | None:
    async with autocommit(session):
        return (await session.execute(_ONE, {"payment_id": payment_id})).first()


async def get_payment(*, session: AsyncSession, payment_id: int, user: Principal) -> PaymentRow:
    p = await read(session, payment_id)
    if p is None or (p.user_id != user.user_id and not user.is_admin):
        raise PaymentNotFound(f"Payment {payment_id} not found")
    return p


async def get_payment_internal(*, session: AsyncSession, payment_id: int) -> PaymentRow:
    p = await read(session, payment_id)
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
