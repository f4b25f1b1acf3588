"""`shared.money.Amount`: a sane amount or a validation error, never a decimal exception.

A sane amount is 0 to 99,999,999.99 (the Numeric(10, 2) columns) with at most two decimal
places, as a JSON number or a plain decimal string.
"""

import importlib
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Numeric

from shared.money import AMOUNT_PATTERN, INTEGER_DIGITS, MAX_AMOUNT, Amount, fmt, parse_amount
from shared.services import SERVICES

amount = TypeAdapter(Amount)


class Body(BaseModel):
    amount: Amount
    optional: Amount | None = None


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("5250.00", "5250.00"),
        ("5250.5", "5250.50"),
        ("5250", "5250.00"),
        ("0", "0.00"),
        ("0.01", "0.01"),
        ("00000007", "7.00"),
        ("99999999.99", "99999999.99"),
        (5250, "5250.00"),
        (52.5, "52.50"),
        (0.1, "0.10"),
        (1e3, "1000.00"),  # a JSON number 1e3 is the float 1000.0
        (-0.0, "0.00"),
        (0, "0.00"),
        (99999999.99, "99999999.99"),
        (99_999_999, "99999999.00"),
        (Decimal("5250.000"), "5250.00"),  # from Python code: compared by value
        (Decimal("1E+2"), "100.00"),
    ],
)
def test_sane_amounts_are_exact(given_: Any, expected: str) -> None:
    assert amount.validate_python(given_) == Decimal(expected)
    assert fmt(amount.validate_python(given_)) == expected


REFUSED: list[tuple[Any, str]] = [
    # out of range
    (1e26, "at most"),
    ("1" * 27, "at most"),
    ("123456789012345678901234567", "at most"),
    ("100000000", "at most"),
    ("000000001", "at most"),  # nine integer digits, as written
    (100000000, "at most"),
    (10**30, "at most"),
    (99999999.995, "at most"),
    (1e308, "at most"),
    (Decimal("1E+26"), "at most"),
    # not finite
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    (float("-inf"), "finite"),
    (Decimal("NaN"), "finite"),
    (Decimal("sNaN"), "finite"),
    ("NaN", "plain decimal"),
    ("nan", "plain decimal"),
    ("Infinity", "plain decimal"),
    ("-Infinity", "plain decimal"),
    # exponents
    ("1e3", "plain decimal"),
    ("1E3", "plain decimal"),
    ("1e26", "plain decimal"),
    ("1e-2", "plain decimal"),
    # too many decimals
    ("10.001", "two decimal places"),
    ("1.000", "two decimal places"),
    (10.001, "two decimal places"),
    (1e-05, "two decimal places"),
    (0.57 + 1e-15, "two decimal places"),
    (Decimal("0.001"), "two decimal places"),
    # negative
    ("-5", "negative"),
    ("-0", "negative"),
    (-5, "negative"),
    (-0.01, "negative"),
    (Decimal("-1"), "negative"),
    # not an amount at all
    ("", "plain decimal"),
    (" 5", "plain decimal"),
    ("5 ", "plain decimal"),
    ("+5", "plain decimal"),
    ("5.", "plain decimal"),
    (".5", "plain decimal"),
    ("1,000", "plain decimal"),
    ("0x10", "plain decimal"),
    ("١٢٣", "plain decimal"),  # Arabic-Indic digits: Decimal() would take them
    ("12\x00", "plain decimal"),
    ("ten", "plain decimal"),
    (True, "plain decimal"),
    (None, "plain decimal"),
    ([], "plain decimal"),
    ({"amount": 1}, "plain decimal"),
]


@pytest.mark.parametrize(("given_", "reason"), REFUSED)
def test_anything_else_is_a_validation_error(given_: Any, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Body(amount=given_)
    [error] = caught.value.errors()
    assert error["loc"] == ("amount",)
    assert error["type"] == "invalid_amount"
    assert reason in error["msg"]


def test_the_bound_is_the_narrowest_money_column() -> None:
    """Every amount accepted fits every money column of every service: Numeric(10, 2)."""
    widths = set()
    for service in SERVICES:
        metadata = importlib.import_module(f"{service.package}.models").Base.metadata
        for table in metadata.tables.values():
            for column in table.columns:
                if isinstance(column.type, Numeric) and column.type.scale == 2:
                    widths.add(column.type.precision - column.type.scale)
    assert min(widths) == INTEGER_DIGITS == 8
    assert Decimal("9" * INTEGER_DIGITS + ".99") == MAX_AMOUNT
    assert re.fullmatch(AMOUNT_PATTERN, "99999999.99")
    assert not re.fullmatch(AMOUNT_PATTERN, "100000000")


def test_an_optional_amount_takes_null_and_refuses_the_rest() -> None:
    assert Body(amount=1, optional=None).optional is None
    with pytest.raises(ValidationError):
        Body(amount=1, optional="1e26")


def test_the_json_schema_says_what_is_accepted() -> None:
    schema = Body.model_json_schema()["properties"]["amount"]
    number, string = schema["anyOf"]
    assert number == {
        "type": "number",
        "minimum": 0,
        "maximum": float(MAX_AMOUNT),
        "multipleOf": 0.01,
    }
    assert string == {"type": "string", "pattern": AMOUNT_PATTERN}
    assert Body.model_json_schema(mode="serialization")["properties"]["amount"]["type"] == (
        "string"
    )


# Properties --------------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=int(MAX_AMOUNT * 100))


@given(cents)
def test_every_amount_in_range_round_trips(n: int) -> None:
    value = Decimal(n) / 100
    text = fmt(value)
    assert parse_amount(text) == value
    assert parse_amount(value) == value
    assert parse_amount(float(text)) == value  # the float a JSON number with two places becomes
    assert re.fullmatch(AMOUNT_PATTERN, text)


def _outcome(value: Any) -> Decimal | None:
    """The parsed amount, or None when refused with a validation error (anything else: a bug)."""
    try:
        return amount.validate_python(value)
    except ValidationError:
        return None


def _assert_sane(result: Decimal | None) -> None:
    if result is not None:
        assert Decimal(0) <= result <= MAX_AMOUNT
        assert result == result.quantize(Decimal("0.01"))
        assert result.as_tuple().exponent == -2


@given(st.text(max_size=60))
@example("1" * 27)
@example("9" * 10_000)
@example("1e26")
@example("NaN")
@example("-sNaN")
@example("1e999999999")
def test_any_string_is_an_amount_or_a_validation_error(text: str) -> None:
    result = _outcome(text)
    _assert_sane(result)
    assert (result is not None) == bool(re.fullmatch(AMOUNT_PATTERN, text))


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(1e26)
@example(-0.0)
def test_any_float_is_an_amount_or_a_validation_error(number: float) -> None:
    _assert_sane(_outcome(number))


@given(st.integers() | st.decimals(allow_nan=True, allow_infinity=True))
def test_any_number_is_an_amount_or_a_validation_error(number: int | Decimal) -> None:
    _assert_sane(_outcome(number))


@given(st.decimals(min_value=0, max_value=MAX_AMOUNT, places=2))
def test_a_json_body_reads_back_the_same_amount(value: Decimal) -> None:
    for raw in (json.dumps(str(value)), str(value)):  # as a JSON string, as a JSON number
        assert Body.model_validate_json(f'{{"amount": {raw}}}').amount == value
