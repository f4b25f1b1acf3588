"""POST /api/auth/refresh and /api/auth/logout: rotation, reuse detection, revocation."""

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from auth_service.main import app
from auth_service.models import RefreshToken
from tests.auth_service.conftest import PASSWORD, signup
from tests.helpers import assert_problem, bearer


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refreshToken": token})


async def test_refresh_rotates_the_token(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await refresh(client, user["refreshToken"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userId"] == user["userId"]
    assert body["refreshToken"] != user["refreshToken"]
    assert body["token"] != user["token"]
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    # The new one works in turn.
    assert (await refresh(client, body["refreshToken"])).status_code == 200


async def test_refresh_tokens_are_stored_hashed(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    digest = hashlib.sha256(user["refreshToken"].encode()).hexdigest()
    async with app.state.db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(RefreshToken.token_hash).where(RefreshToken.user_id == user["userId"])
            )
        ).all()
    assert rows == [digest]


async def test_reusing_a_rotated_token_revokes_the_family(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    other_session = (
        await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    ).json()
    first = (await refresh(client, user["refreshToken"])).json()
    second = (await refresh(client, first["refreshToken"])).json()

    # A thief replays the original token: the whole family dies, the latest token included.
    assert_problem(await refresh(client, user["refreshToken"]), 401, "REFRESH_TOKEN_REUSED")
    assert_problem(await refresh(client, second["refreshToken"]), 401, "REFRESH_TOKEN_REVOKED")
    assert_problem(await refresh(client, first["refreshToken"]), 401, "REFRESH_TOKEN_REUSED")
    # The user's other session (another family) is untouched.
    assert (await refresh(client, other_session["refreshToken"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_succeed_once(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    responses = await asyncio.gather(*(refresh(client, user["refreshToken"]) for _ in range(5)))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1
    for r in responses:
        if r.status_code != 200:
            assert_problem(r, 401, "REFRESH_TOKEN_REUSED")
    # Racing presentations count as reuse: the family, the winner's new token too, is revoked.
    assert_problem(
        await refresh(client, winners[0].json()["refreshToken"]), 401, "REFRESH_TOKEN_REVOKED"
    )


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await refresh(client, "not-a-real-token"), 401, "INVALID_REFRESH_TOKEN")


async def test_expired_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user["userId"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    assert_problem(await refresh(client, user["refreshToken"]), 401, "REFRESH_TOKEN_EXPIRED")


async def test_refresh_validation_is_422(client: httpx.AsyncClient) -> None:
    for body in ({}, {"refreshToken": 5}, {"refreshToken": ""}, {"refreshToken": "x" * 513}):
        assert_problem(await client.post("/api/auth/refresh", json=body), 422, "VALIDATION_FAILED")


async def test_logout_revokes_the_session(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    rotated = (await refresh(client, user["refreshToken"])).json()
    response = await client.post(
        "/api/auth/logout",
        json={"refreshToken": rotated["refreshToken"]},
        headers=bearer(rotated["token"]),
    )
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await refresh(client, rotated["refreshToken"]), 401, "REFRESH_TOKEN_REVOKED")
    # Idempotent.
    again = await client.post(
        "/api/auth/logout",
        json={"refreshToken": rotated["refreshToken"]},
        headers=bearer(rotated["token"]),
    )
    assert again.status_code == 204


async def test_logout_cannot_end_someone_elses_session(client: httpx.AsyncClient) -> None:
    victim = await signup(client)
    attacker = await signup(client)
    response = await client.post(
        "/api/auth/logout",
        json={"refreshToken": victim["refreshToken"]},
        headers=bearer(attacker["token"]),
    )
    assert response.status_code == 204  # reveals nothing, revokes nothing
    assert (await refresh(client, victim["refreshToken"])).status_code == 200


async def test_logout_of_an_unknown_token_is_204(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await client.post(
        "/api/auth/logout", json={"refreshToken": "unknown"}, headers=bearer(user["token"])
    )
    assert response.status_code == 204


async def test_logout_needs_an_access_token(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await client.post("/api/auth/logout", json={"refreshToken": user["refreshToken"]})
    assert_problem(response, 401, "UNAUTHORIZED")
    # The refresh token is not an access token either.
    response = await client.post(
        "/api/auth/logout",
        json={"refreshToken": user["refreshToken"]},
        headers=bearer(user["refreshToken"]),
    )
    assert_problem(response, 401, "INVALID_TOKEN")
    assert (await refresh(client, user["refreshToken"])).status_code == 200
