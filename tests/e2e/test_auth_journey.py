"""The auth journey of SPEC §3 through the gateway, with real processes."""

import asyncio

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, SignUp, unique_address
from tests.helpers import assert_problem, bearer, unique_email

pytestmark = pytest.mark.e2e


async def test_signup_login_refresh_me_logout(gateway: httpx.AsyncClient) -> None:
    email = unique_email("journey")
    signup = await gateway.post(
        "/api/auth/signup", json={"name": "Asha Rao", "email": email, "password": PASSWORD}
    )
    assert signup.status_code == 201, signup.text
    created = signup.json()
    assert set(created) >= {"userId", "token", "refreshToken", "expiresIn"}
    assert created["expiresIn"] > 0

    login = await gateway.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["userId"] == created["userId"]

    me = await gateway.get("/api/auth/me", headers=bearer(tokens["token"]))
    assert me.status_code == 200, me.text
    assert (me.json()["userId"], me.json()["email"]) == (created["userId"], email)

    refreshed = await gateway.post(
        "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refreshToken"] != tokens["refreshToken"]
    assert (await gateway.get("/api/auth/me", headers=bearer(new["token"]))).status_code == 200

    # the spent refresh token is refused (and reusing it revokes the family)
    reused = await gateway.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert_problem(reused, 401)

    second = (
        await gateway.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    logout = await gateway.post(
        "/api/auth/logout",
        json={"refreshToken": second["refreshToken"]},
        headers=bearer(second["token"]),
    )
    assert logout.status_code == 204, logout.text
    after = await gateway.post("/api/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert_problem(after, 401)


async def test_logout_and_me_need_a_token(gateway: httpx.AsyncClient) -> None:
    assert_problem(await gateway.get("/api/auth/me"), 401, "UNAUTHORIZED")
    assert_problem(
        await gateway.post("/api/auth/logout", json={"refreshToken": "x"}), 401, "UNAUTHORIZED"
    )


async def test_signup_errors(gateway: httpx.AsyncClient, signup: SignUp) -> None:
    user = await signup()
    duplicate = await gateway.post(
        "/api/auth/signup",
        json={"name": "Again", "email": user["email"].upper(), "password": PASSWORD},
    )
    assert_problem(duplicate, 409, "EMAIL_TAKEN")
    for body in (
        {"name": "Short", "email": unique_email(), "password": "short"},
        {"name": "Bad email", "email": "not-an-email", "password": PASSWORD},
        {"name": "Missing password", "email": unique_email()},
        {"name": 123, "email": unique_email(), "password": ["wrong", "type"]},
    ):
        problem = assert_problem(
            await gateway.post("/api/auth/signup", json=body), 422, "VALIDATION_FAILED"
        )
        assert problem["errors"], problem
    malformed = await gateway.post(
        "/api/auth/signup", content=b'{"name": "x", ', headers={"Content-Type": "application/json"}
    )
    assert_problem(malformed, 422, "VALIDATION_FAILED")


async def test_wrong_password_and_unknown_email_are_the_same_401(
    gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    headers = {"X-Forwarded-For": unique_address()}
    wrong = await gateway.post(
        "/api/auth/login",
        json={"email": user["email"], "password": "wrong password"},
        headers=headers,
    )
    unknown = await gateway.post(
        "/api/auth/login",
        json={"email": unique_email(), "password": "wrong password"},
        headers=headers,
    )
    a = assert_problem(wrong, 401)
    b = assert_problem(unknown, 401)
    assert (a["code"], a["detail"]) == (b["code"], b["detail"])


async def test_repeated_failed_logins_are_throttled(
    gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    headers = {"X-Forwarded-For": unique_address()}
    statuses = []
    for _ in range(8):
        response = await gateway.post(
            "/api/auth/login",
            json={"email": user["email"], "password": "not the password"},
            headers=headers,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    throttled = assert_problem(response, 429, "LOGIN_THROTTLED")
    assert int(response.headers["retry-after"]) >= 1, throttled
    # even the right password waits for the window now
    right = await gateway.post(
        "/api/auth/login", json={"email": user["email"], "password": PASSWORD}, headers=headers
    )
    assert_problem(right, 429, "LOGIN_THROTTLED")


async def test_concurrent_signups_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    email = unique_email("race")
    body = {"name": "Racer", "email": email, "password": PASSWORD}
    responses = await asyncio.gather(
        *(gateway.post("/api/auth/signup", json=body) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
