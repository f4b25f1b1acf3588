"""The mock card gateway: decides by card number like a real gateway's test mode.

`4242424242424242` succeeds, `4000000000000002` is declined `card_declined`,
`4000000000009995` is declined `insufficient_funds`, any other Luhn-valid number succeeds.
An invalid number or an expiry in the past is refused before any charge (422).

It keeps its own ledger (`payments.gateway_charges`), apart from the payment records, with the
payment id as the idempotency key of a charge, like a real gateway's: charging the same payment
twice returns the first result, and `void` makes sure an attempt that a crash interrupted can
never be charged later. The card number is never stored or logged: only its last four digits.
"""

import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service.errors import CardExpired, CardInvalid
from payment_service.models import (
    CHARGE_DECLINED,
    CHARGE_SUCCEEDED,
    CHARGE_VOIDED,
    GatewayCharge,
)
from shared import clock
from shared.db import autocommit

SUCCESS_CARD = "4242424242424242"
DECLINED_CARDS = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
}


@dataclass(frozen=True)
class Card:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def brand(self) -> str:
        return brand_of(self.number)


def default_card(today: date | None = None) -> Card:
    """The success test card (for clients that send no card, like the seed's)."""
    today = today or clock.utcnow().date()
    return Card(SUCCESS_CARD, 12, today.year + 5, "123")


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2] or 0) <= 55 or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number[:2] in {"60", "65", "81", "82"} or number.startswith("508"):
        return "rupay"
    return "unknown"


def validate_card(card: Card, today: date | None = None) -> None:
    """Refuse a card the gateway would never accept: bad number, past expiry, bad CVC."""
    today = today or clock.utcnow().date()
    if not luhn_valid(card.number):
        raise CardInvalid("The card number is not valid (checksum)")
    if not 1 <= card.exp_month <= 12:
        raise CardExpired("The card's expiry month is not valid")
    if (card.exp_year, card.exp_month) < (today.year, today.month):
        raise CardExpired("The card has expired")
    expected = 4 if brand_of(card.number) == "amex" else 3
    if not card.cvc.isdigit() or len(card.cvc) not in (3, expected):
        raise CardInvalid("The card's CVC is not valid")


@dataclass(frozen=True)
class ChargeResult:
    charge_id: str
    status: str  # CHARGE_STATUSES
    decline_code: str | None = None
    refund_id: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == CHARGE_SUCCEEDED


def _result(row: Any) -> ChargeResult:
    return ChargeResult(row.id, row.status, row.decline_code, row.refund_id)


_charges = cast(Table, GatewayCharge.__table__)
_RESULT = (_charges.c.id, _charges.c.status, _charges.c.decline_code, _charges.c.refund_id)
# Built once (building a statement costs more CPU than running it); parameters at execution.
_RECORD = (
    pg_insert(_charges).on_conflict_do_nothing(index_elements=["payment_id"]).returning(*_RESULT)
)
_LOOKUP = select(*_RESULT).where(_charges.c.payment_id == bindparam("p_id"))
_REFUND = (
    update(_charges)
    .where(_charges.c.payment_id == bindparam("p_id"), _charges.c.status == CHARGE_SUCCEEDED)
    .values(
        refund_id=func.coalesce(_charges.c.refund_id, bindparam("new_refund_id")),
        refunded_at=func.coalesce(_charges.c.refunded_at, bindparam("now")),
    )
    .returning(_charges.c.refund_id)
)


class CardGateway:
    """Each operation is one statement committed by itself (no BEGIN/COMMIT round trips)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def charge(
        self, *, payment_id: int, amount: Decimal, currency: str, card: Card
    ) -> ChargeResult:
        """Charge the card once per payment; a repeat returns the first outcome."""
        decline = DECLINED_CARDS.get(card.number)
        return await self._record(
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            status=CHARGE_DECLINED if decline else CHARGE_SUCCEEDED,
            decline_code=decline,
            card=card,
        )

    async def void(self, *, payment_id: int, amount: Decimal, currency: str) -> ChargeResult:
        """Make sure the payment can no longer be charged; returns the charge if it was."""
        return await self._record(
            payment_id=payment_id, amount=amount, currency=currency, status=CHARGE_VOIDED
        )

    async def lookup(self, *, payment_id: int) -> ChargeResult | None:
        async with self.sessionmaker() as session, autocommit(session):
            row = (await session.execute(_LOOKUP, {"p_id": payment_id})).first()
        return _result(row) if row else None

    async def refund(self, *, payment_id: int) -> str:
        """Refund a succeeded charge in full (idempotent); returns the refund id."""
        params = {
            "p_id": payment_id,
            "new_refund_id": f"re_{secrets.token_hex(12)}",
            "now": clock.utcnow(),
        }
        async with self.sessionmaker() as session, autocommit(session):
            refund_id = (await session.execute(_REFUND, params)).scalar_one_or_none()
        if refund_id is None:
            raise LookupError(f"no succeeded charge for payment {payment_id}")
        return str(refund_id)

    async def _record(
        self,
        *,
        payment_id: int,
        amount: Decimal,
        currency: str,
        status: str,
        decline_code: str | None = None,
        card: Card | None = None,
    ) -> ChargeResult:
        """The first attempt recorded for the payment wins; the others read it."""
        values = {
            "id": f"ch_{secrets.token_hex(12)}",
            "payment_id": payment_id,
            "amount": amount,
            "currency": currency,
            "status": status,
            "decline_code": decline_code,
            "card_last4": card.last4 if card else None,
            "card_brand": card.brand if card else None,
        }
        async with self.sessionmaker() as session, autocommit(session):
            row = (await session.execute(_RECORD, values)).first()
            if row is None:  # a statement of its own: it sees the row that won
                row = (await session.execute(_LOOKUP, {"p_id": payment_id})).one()
        return _result(row)
