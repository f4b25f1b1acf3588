"""Money: exact decimals with two places, sent in JSON as strings ("5250.00")."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

CURRENCY = "INR"
CENT = Decimal("0.01")


def quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(value: Any) -> Decimal:
    """A client amount (number or string) -> Decimal, exactly as written; floats via str()."""
    if isinstance(value, bool):
        raise ValueError("amount must be a number or a decimal string")
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, TypeError) as exc:
        raise ValueError("amount must be a number or a decimal string") from exc
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    if amount != amount.quantize(CENT):
        raise ValueError("amount has more than two decimal places")
    return quantize(amount)


def fmt(value: Decimal) -> str:
    return f"{quantize(value):.2f}"


# Pydantic field types: `Amount` accepts number or string input and serialises as "5250.00".
Amount = Annotated[Decimal, BeforeValidator(parse_amount), PlainSerializer(fmt, return_type=str)]
MoneyOut = Annotated[Decimal, PlainSerializer(fmt, return_type=str)]
