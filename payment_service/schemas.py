"""Request and response bodies of the payment service (camelCase in JSON)."""

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from payment_service.card_gateway import Card
from payment_service.models import PaymentRow
from shared.contracts.payments import Payment
from shared.ids import BIGINT_MAX
from shared.money import Amount
from shared.schemas import CamelModel, RequestModel

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]


def _two_or_four_digit_year(schema: dict[str, Any]) -> None:
    """`expYear` is 0-99 (20xx) or 2000-2200, as `_four_digits` reads it."""
    schema.pop("minimum", None)
    schema.pop("maximum", None)
    schema["anyOf"] = [{"minimum": 0, "maximum": 99}, {"minimum": 2000, "maximum": 2200}]


class CardIn(RequestModel):
    """A card as the client sends it. The number is never stored, logged or echoed back."""

    number: Annotated[
        str,
        Field(
            repr=False,
            # 12 to 19 digits, spaces and dashes between them ignored (see `_digits`).
            json_schema_extra={"pattern": "^[ -]*(?:[0-9][ -]*){12,19}$"},
        ),
    ]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=0, le=2200, json_schema_extra=_two_or_four_digit_year)]
    cvc: Annotated[str, StringConstraints(pattern=r"^[0-9]{3,4}$"), Field(repr=False)]

    @field_validator("number", mode="before")
    @classmethod
    def _digits(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            value = value.replace(" ", "").replace("-", "")
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses (a 500).
            if not (value.isascii() and value.isdigit()) or not 12 <= len(value) <= 19:
                raise ValueError("a card number is 12 to 19 digits")
        return value

    @field_validator("cvc", mode="before")
    @classmethod
    def _cvc(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("exp_year")
    @classmethod
    def _four_digits(cls, value: int) -> int:
        if value < 100:
            return 2000 + value
        if value < 2000:
            raise ValueError("expYear is a year like 2030 (or 30)")
        return value

    def card(self) -> Card:
        return Card(self.number, self.exp_month, self.exp_year, self.cvc)


class PayRequest(RequestModel):
    booking_id: Id
    amount: Amount
    card: CardIn | None = None
    user_id: Id | None = None


class PaymentOut(Payment):
    """A payment as the payer sees it: the same as the booking service does (the contract)."""

    @classmethod
    def of(cls, p: PaymentRow) -> "PaymentOut":
        return cls(
            payment_id=p.id,
            booking_id=p.booking_id,
            reference=p.booking_reference,
            status=p.status,
            amount=p.amount,
            currency=p.currency,
            card_last4=p.card_last4,
            card_brand=p.card_brand,
            decline_code=p.decline_code,
            failure_code=p.failure_code,
            booking_status=p.booking_status,
            created_at=p.created_at,
            updated_at=p.updated_at,
            refunded_at=p.refunded_at,
        )


class PaymentList(CamelModel):
    items: list[PaymentOut]
