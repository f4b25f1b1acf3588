"""Bad input to the discount routes is a 422 problem naming the field, never a 500.

POST /api/discounts (admin): an insane value, maxDiscount or minBookingAmount, a control
character in the description. POST /api/discounts/apply and GET /api/discounts/validate: a
control character in the code (Postgres refuses NUL in a query parameter: it was a 500).
"""

import json
import uuid
from typing import Any

import pytest

from tests.discount_service.conftest import Booked, Discounts
from tests.helpers import INSANE_AMOUNTS, assert_problem


def new_code(**fields: Any) -> dict[str, Any]:
    return {"code": f"B{uuid.uuid4().hex[:10]}", "kind": "percent", "value": "10", **fields}


async def create(discounts: Discounts, body: dict[str, Any]):
    # NaN and Infinity as the bare literals json.dumps writes (httpx's json= refuses them).
    return await discounts.client.post(
        "/api/discounts",
        content=json.dumps(body),
        headers={**discounts.admin, "content-type": "application/json"},
    )


@pytest.mark.parametrize("field", ["value", "maxDiscount", "minBookingAmount"])
@pytest.mark.parametrize("amount", INSANE_AMOUNTS)
async def test_an_insane_amount_in_a_new_code_is_a_422(
    discounts: Discounts, field: str, amount: Any
) -> None:
    r = await create(discounts, new_code(**{field: amount}))
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["body", field]
    assert body["errors"][0]["type"] == "invalid_amount"


async def test_the_largest_sane_amounts_are_taken(discounts: Discounts) -> None:
    created = await discounts.create(kind="flat", value=99999999.99, minBookingAmount="99999999.99")
    assert (created["value"], created["minBookingAmount"]) == ("99999999.99", "99999999.99")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"description": "Monsoon\u0000sale"}, "description"),
        ({"description": "two\nlines"}, "description"),
        ({"code": "SALE\u0000"}, "code"),
    ],
)
async def test_a_control_character_in_a_new_code_is_422(
    discounts: Discounts, fields: dict[str, Any], field: str
) -> None:
    r = await create(discounts, new_code(**fields))
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("code", ["A\u0000", "FLY100\u0000", "\u0000", "FLY\u001b100"])
async def test_a_control_character_in_the_applied_code_is_422(
    discounts: Discounts, booked: Booked, code: str
) -> None:
    headers, booking = await booked()
    r = await discounts.apply(headers, booking["id"], code)
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["body", "code"]
    assert body["errors"][0]["type"] == "control_character"
    assert await discounts.redemptions(booking["id"]) == []


async def test_a_control_character_in_the_validated_code_is_422(
    discounts: Discounts, booked: Booked
) -> None:
    headers, booking = await booked()
    for query in ("code=A%00", f"code=A%00&bookingId={booking['id']}", "code=FLY%0A100"):
        r = await discounts.client.get(f"/api/discounts/validate?{query}", headers=headers)
        body = assert_problem(r, 422, "VALIDATION_FAILED")
        assert body["errors"][0]["loc"] == ["query", "code"]
