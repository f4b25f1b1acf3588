"""POST /api/auth/login: credentials, the one 401, throttling and legacy hashes."""

import asyncio
import statistics
import time

import bcrypt
import httpx
from sqlalchemy import select

from auth_service.main import app
from auth_service.models import User
from tests.auth_service.conftest import (
    PASSWORD,
    signup,
    unique_address,
)
from tests.helpers import assert_problem, bearer, unique_email


async def login(
    client: httpx.AsyncClient, email: str, password: str, address: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else None
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def test_login_returns_tokens(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await login(client, user["email"], PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userId"] == user["userId"]
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    assert body["refreshToken"] != user["refreshToken"]
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.json()["userId"] == user["userId"]


async def test_unknown_email_and_wrong_password_fail_alike(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    wrong = await login(client, user["email"], "wrong password")
    unknown = await login(client, unique_email(), PASSWORD)
    bodies = []
    for response in (wrong, unknown):
        body = assert_problem(response, 401, "INVALID_CREDENTIALS")
        assert response.headers["www-authenticate"] == "Bearer"
        body.pop("requestId")
        bodies.append(body)
    assert bodies[0] == bodies[1]


async def test_unknown_email_takes_as_long_as_a_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    """The unknown email is checked against a dummy hash, so timing does not reveal accounts."""
    user = await signup(client)
    wrong, unknown = [], []
    for _ in range(3):
        started = time.perf_counter()
        await login(client, user["email"], "wrong password")
        wrong.append(time.perf_counter() - started)
        started = time.perf_counter()
        await login(client, unique_email(), "wrong password")
        unknown.append(time.perf_counter() - started)
    # Loose on purpose (a shared CPU is noisy); without the dummy hash it is ~20x faster.
    assert statistics.median(unknown) > 0.3 * statistics.median(wrong)


async def test_login_validation_is_422(client: httpx.AsyncClient) -> None:
    for body in ({"email": "x@example.com"}, {"email": 1, "password": "p"}, {"password": "p"}):
        response = await client.post("/api/auth/login", json=body)
        assert_problem(response, 422, "VALIDATION_FAILED")


async def test_failures_per_email_are_throttled(client: httpx.AsyncClient) -> None:
    """Five failures from five addresses, then even the right password gets 429."""
    user = await signup(client)
    for _ in range(5):
        response = await login(client, user["email"], "wrong password", unique_address())
        assert_problem(response, 401, "INVALID_CREDENTIALS")
    response = await login(client, user["email"], PASSWORD, unique_address())
    assert_problem(response, 429, "LOGIN_THROTTLED")
    assert 1 <= int(response.headers["retry-after"]) <= 900
    # Another account is not affected.
    other = await signup(client)
    assert (await login(client, other["email"], PASSWORD)).status_code == 200


async def test_failures_per_address_are_throttled(client: httpx.AsyncClient) -> None:
    """Twenty failures (different emails) from one address, as set by the gateway, then 429
    for any account from that address; other addresses are unaffected."""
    user = await signup(client)
    address = unique_address()
    for _ in range(20):
        # Whatever the client claims on the left is ignored: the hop the trusted proxy
        # (the gateway, here the in-process peer 127.0.0.1) added on the right counts.
        forwarded = f"{unique_address()}, {address}"
        response = await login(client, unique_email(), "wrong password", forwarded)
        assert_problem(response, 401, "INVALID_CREDENTIALS")
    response = await login(client, user["email"], PASSWORD, address)
    assert_problem(response, 429, "LOGIN_THROTTLED")
    assert int(response.headers["retry-after"]) >= 1
    assert (await login(client, user["email"], PASSWORD, unique_address())).status_code == 200


async def test_parallel_guesses_cannot_pass_the_limit(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    responses = await asyncio.gather(
        *(login(client, user["email"], f"guess {i}", unique_address()) for i in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 5 + [429] * 7


async def test_success_resets_the_email_window(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    for _round in range(2):
        for _ in range(4):
            assert (await login(client, user["email"], "wrong password")).status_code == 401
        assert (await login(client, user["email"], PASSWORD)).status_code == 200


async def test_legacy_bcrypt_hash_is_upgraded_at_login(client: httpx.AsyncClient) -> None:
    email = unique_email()
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with app.state.db.sessionmaker() as session:
        session.add(User(email=email, name="Old Timer", password_hash=legacy, role="user"))
        await session.commit()

    response = await login(client, email, PASSWORD)
    assert response.status_code == 200, response.text

    async with app.state.db.sessionmaker() as session:
        stored = await session.scalar(select(User.password_hash).where(User.email == email))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert (await login(client, email, PASSWORD)).status_code == 200
    assert (await login(client, email, "wrong password")).status_code == 401
