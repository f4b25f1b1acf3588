"""Money: exact decimals with two places, sent in JSON as strings ("5250.00").

Every amount a client or another service sends goes through `parse_amount` (the `Amount` field
type). A sane amount is 0 to 99,999,999.99 with at most two decimal places: the range of the
`Numeric(10, 2)` columns every service stores money in (at most 8 integer digits). It comes as a
JSON number or a plain decimal string ("5250", "5250.5", "5250.00"). Anything else (a sign, an
exponent, NaN or Infinity, a third decimal, a ninth integer digit, whitespace, non-ASCII digits)
is a validation error, so a 422 naming the field; never a decimal.InvalidOperation (a 500) from
quantizing a number wider than the decimal context, nor an overflow in the database.
"""

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, PlainSerializer
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

CURRENCY = "INR"
CENT = Decimal("0.01")
INTEGER_DIGITS = 8
MAX_AMOUNT = Decimal("99999999.99")

# ASCII digits only: `\d` (and Decimal()) would also take Devanagari or Arabic-Indic digits.
_PLAIN = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
AMOUNT_PATTERN = rf"^[0-9]{{1,{INTEGER_DIGITS}}}(\.[0-9]{{1,2}})?$"


def quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_amount", message)


_NOT_AN_AMOUNT = (
    'amount must be a number or a plain decimal string like "5250.00" (digits, then an '
    "optional point and one or two digits: no sign, exponent, spaces, NaN or Infinity)"
)
_NEGATIVE = "amount must not be negative"
_OUT_OF_RANGE = f"amount must be at most {MAX_AMOUNT}"
_TOO_PRECISE = "amount has more than two decimal places"


def _check_number(value: int | float | Decimal) -> None:
    """Range first: printing a huge number costs, and 1e26 prints with an exponent."""
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    if not finite:  # (math.isfinite would raise on a signalling NaN)
        raise _invalid("amount must be a finite number, not NaN or Infinity")
    if value < 0:
        raise _invalid(_NEGATIVE)
    if value > MAX_AMOUNT:
        raise _invalid(_OUT_OF_RANGE)


def _number_text(value: int | float) -> str:
    """A JSON number as the JSON wrote it (a float's shortest repr)."""
    if value == 0:
        return "0"  # -0.0 too
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" in text:  # within range, only a tiny number (1e-05) keeps an exponent
        raise _invalid(_TOO_PRECISE)
    return text


def parse_amount(value: Any) -> Decimal:
    """A client amount (number or string) -> Decimal with two places, exactly as written."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise _invalid(_NOT_AN_AMOUNT)
    if isinstance(value, Decimal):  # from Python code: any exponent, compared by value
        _check_number(value)
        if (amount := quantize(value)) != value:
            raise _invalid(_TOO_PRECISE)
        return abs(amount)  # abs: -0 is 0.00
    if isinstance(value, int | float):
        _check_number(value)
        value = _number_text(value)
    match = _PLAIN.fullmatch(value)
    if match is None:
        raise _invalid(_NOT_AN_AMOUNT)
    sign, whole, fraction = match.groups()
    if sign:
        raise _invalid(_NEGATIVE)
    if len(whole) > INTEGER_DIGITS:
        raise _invalid(_OUT_OF_RANGE)
    if fraction is not None and len(fraction) > 2:
        raise _invalid(_TOO_PRECISE)
    # At most 8 + 2 digits: quantizing is exact and can never overflow the decimal context.
    return quantize(Decimal(value))


def fmt(value: Decimal) -> str:
    return f"{quantize(value):.2f}"


class _AmountJsonSchema:
    """`Amount` in the OpenAPI document: the number keeps its bounds (and a field's own, like
    `gt=0`); the string says what a plain decimal is."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        for branch in json_schema.get("anyOf", ()):
            if branch.get("type") == "number":
                branch["multipleOf"] = 0.01
            elif branch.get("type") == "string":
                branch["pattern"] = AMOUNT_PATTERN
        json_schema.setdefault("examples", ["5250.00"])
        return json_schema


def amount_within(*, gt: Decimal | int | None = None, le: Decimal | None = None) -> Any:
    """`Amount` with its field's own, tighter bounds (a fare above 0 and under a cap): checked
    after parsing, with a field's clear message, and shown in the OpenAPI document."""
    return Annotated[
        Decimal,
        # One Field: a second one would override this one's `le` (pydantic merges them).
        Field(ge=None if gt is not None else 0, gt=gt, le=min(le or MAX_AMOUNT, MAX_AMOUNT)),
        BeforeValidator(parse_amount),
        PlainSerializer(fmt, return_type=str),
        _AmountJsonSchema(),
    ]


# Pydantic field types: `Amount` accepts number or string input and serialises as "5250.00".
Amount = amount_within()
MoneyOut = Annotated[Decimal, PlainSerializer(fmt, return_type=str)]
