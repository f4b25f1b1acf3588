"""Bad input to the auth routes is a 422 problem naming the field, never a 500.

A NUL reaching Postgres (a signup name, a login email) was a 500: Postgres refuses 0x00 in text.
"""

from typing import Any

import httpx
import pytest

from tests.auth_service.conftest import PASSWORD, signup
from tests.helpers import assert_problem, unique_email


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "A\u0000"}, "name"),
        ({"name": "Asha\u0000Rao"}, "name"),
        ({"name": "Asha\nRao"}, "name"),
        ({"name": "Asha\u0085Rao"}, "name"),
        ({"password": "correct\u0000horse"}, "password"),
    ],
)
async def test_a_control_character_in_a_signup_is_422(
    client: httpx.AsyncClient, fields: dict[str, Any], field: str
) -> None:
    body = {"name": "Asha", "email": unique_email(), "password": PASSWORD, **fields}
    r = await client.post("/api/auth/signup", json=body)
    problem = assert_problem(r, 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["loc"] == ["body", field]
    assert "\u0000" not in r.text and PASSWORD not in r.text
    # Nothing was stored: the address is still free.
    await signup(client, email=body["email"])


async def test_a_control_character_in_an_email_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/auth/signup",
        json={"name": "Asha", "email": "asha\u0000@example.com", "password": PASSWORD},
    )
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == ["body", "email"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "asha\u0000@example.com", "password": PASSWORD},
        {"email": "asha@example.com", "password": "pass\u0000word"},
    ],
)
async def test_a_control_character_in_a_login_is_422(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    r = await client.post("/api/auth/login", json=body)
    assert_problem(r, 422, "VALIDATION_FAILED")


async def test_a_control_character_in_a_refresh_token_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/refresh", json={"refreshToken": "abc\u0000def"})
    assert_problem(r, 422, "VALIDATION_FAILED")
