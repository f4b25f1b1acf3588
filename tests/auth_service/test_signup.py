"""POST /api/auth/signup: the happy path and every way a body can be wrong."""

import asyncio

import httpx
import pytest

from tests.auth_service.conftest import (
    PASSWORD,
    signup,
)
from tests.helpers import assert_problem, bearer, unique_email


async def test_signup_returns_tokens(client: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await client.post(
        "/api/auth/signup", json={"name": "Asha Rao", "email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"userId", "token", "refreshToken", "expiresIn", "tokenType"}
    assert isinstance(body["userId"], int)
    assert body["expiresIn"] == 900
    assert body["tokenType"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]

    me = await client.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["name"] == "Asha Rao"
    assert me.json()["role"] == "user"


async def test_signup_normalises_email_to_lower_case(client: httpx.AsyncClient) -> None:
    local = unique_email().split("@")[0]
    user = await signup(client, email=f"  {local.upper()}@Example.COM ")
    me = await client.get("/api/auth/me", headers=bearer(user["token"]))
    assert me.json()["email"] == f"{local}@example.com"
    login = await client.post(
        "/api/auth/login", json={"email": f"{local}@EXAMPLE.com", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_signup_ignores_a_role_in_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/signup",
        json={"name": "Eve", "email": unique_email(), "password": PASSWORD, "role": "admin"},
    )
    assert response.status_code == 201
    me = await client.get("/api/auth/me", headers=bearer(response.json()["token"]))
    assert me.json()["role"] == "user"


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    again = await client.post(
        "/api/auth/signup",
        json={"name": "Other", "email": user["email"].upper(), "password": "another password"},
    )
    assert_problem(again, 409, "EMAIL_TAKEN")


async def test_concurrent_duplicate_signups_create_one_user(client: httpx.AsyncClient) -> None:
    email = unique_email()
    body = {"name": "Racer", "email": email, "password": PASSWORD}
    responses = await asyncio.gather(
        *(client.post("/api/auth/signup", json=body) for _ in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409]
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "EMAIL_TAKEN")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "ok@example.com", "password": "1234567"}, "password"),
        ({"name": "A", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"name": "A", "email": "a@b", "password": PASSWORD}, "email"),
        ({"name": "A", "email": "two@@example.com", "password": PASSWORD}, "email"),
        ({"name": "   ", "email": "ok@example.com", "password": PASSWORD}, "name"),
        ({"name": "A", "email": "ok@example.com", "password": "x" * 129}, "password"),
        ({"email": "ok@example.com", "password": PASSWORD}, "name"),
        ({"name": "A", "password": PASSWORD}, "email"),
        ({"name": "A", "email": "ok@example.com"}, "password"),
        ({"name": 42, "email": "ok@example.com", "password": PASSWORD}, "name"),
        ({"name": "A", "email": ["ok@example.com"], "password": PASSWORD}, "email"),
        ({"name": "A", "email": "ok@example.com", "password": 123456789}, "password"),
        ({"name": "A", "email": None, "password": PASSWORD}, "email"),
    ],
)
async def test_invalid_signup_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/auth/signup", json=body)
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [e["loc"] for e in problem["errors"]] == [["body", field]]
    password = body.get("password")
    if isinstance(password, str):
        assert password not in response.text  # inputs are never echoed


@pytest.mark.parametrize(
    "content",
    [b'{"name": "A", "email": ', b"not json at all", b"", b"[]", b'"a string"', b"null"],
)
async def test_malformed_json_is_422(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/api/auth/signup", content=content, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert problem["errors"]
