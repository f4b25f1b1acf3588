"""Sign-up abuse: a throttle per client address, checked before any costly work, and a password
policy (NIST SP 800-63B: no common or guessable password, nothing made of the email)."""

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from auth_service import password_policy, passwords
from auth_service.config import AuthSettings
from auth_service.main import app
from auth_service.models import User
from shared.ratelimit import address_bucket
from tests.auth_service.conftest import PASSWORD, unique_address
from tests.helpers import assert_problem, unique_email

LIMIT = AuthSettings().signup_max_per_address


def body(email: str | None = None, password: str = PASSWORD, name: str = "Test User") -> dict:
    return {"name": name, "email": email or unique_email(), "password": password}


async def accounts(emails: list[str]) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).where(User.email.in_(emails))) or 0)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the argon2 hashes computed (the real function still runs)."""
    done: list[str] = []
    real = passwords.hash_password

    async def counted(password: str) -> str:
        done.append("hash")
        return await real(password)

    monkeypatch.setattr(passwords, "hash_password", counted)
    return done


# Throttle -------------------------------------------------------------------------------------


async def test_a_burst_of_sign_ups_from_one_address_is_cut_at_the_limit(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    assert LIMIT == 20
    bodies = [body() for _ in range(LIMIT + 10)]
    responses = await asyncio.gather(*(client.post("/api/auth/signup", json=b) for b in bodies))
    kinds = Counter(r.status_code if r.status_code == 201 else r.json()["code"] for r in responses)
    assert kinds == {201: LIMIT, "SIGNUP_RATE_LIMITED": 10}
    for r in responses:
        if r.status_code == 429:
            problem = assert_problem(r, 429, "SIGNUP_RATE_LIMITED")
            assert 1 <= int(r.headers["retry-after"]) <= 3600
            assert problem["limit"] == LIMIT
    # Refused before hashing: one argon2 hash per account made, none for the refused.
    assert len(hashes) == LIMIT
    assert await accounts([b["email"] for b in bodies]) == LIMIT


async def test_refused_sign_ups_are_cheap(
    client: httpx.AsyncClient, hashes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt counts, a refused one too; past the limit nothing is checked, not even the
    password, and nothing is hashed: one Redis call."""
    checks: list[str] = []
    real = password_policy.check

    async def counted(*args: object, **kw: object) -> None:
        checks.append("check")
        await real(*args, **kw)

    monkeypatch.setattr(password_policy, "check", counted)
    # An invalid body is refused by the schema before the service sees it: not counted.
    invalid = [await client.post("/api/auth/signup", json=body(password="x")) for _ in range(3)]
    assert {r.json()["code"] for r in invalid} == {"VALIDATION_FAILED"}
    weak = [
        await client.post("/api/auth/signup", json=body(password="password123"))
        for _ in range(LIMIT)
    ]
    assert {r.json()["code"] for r in weak} == {"PASSWORD_TOO_WEAK"}
    assert len(checks) == LIMIT
    refused = [await client.post("/api/auth/signup", json=body()) for _ in range(5)]
    assert {r.json()["code"] for r in refused} == {"SIGNUP_RATE_LIMITED"}
    assert len(checks) == LIMIT
    assert hashes == []


async def test_the_limit_is_per_address(client: httpx.AsyncClient) -> None:
    address = unique_address()
    headers = {"X-Forwarded-For": address}
    for _ in range(LIMIT):
        r = await client.post("/api/auth/signup", json=body(), headers=headers)
        assert r.status_code == 201, r.text
    r = await client.post("/api/auth/signup", json=body(), headers=headers)
    assert_problem(r, 429, "SIGNUP_RATE_LIMITED")
    other = await client.post("/api/auth/signup", json=body(), headers={"X-Forwarded-For": "::1"})
    assert other.status_code == 201
    # Login is not affected by the sign-up window.
    r = await client.post(
        "/api/auth/login", json={"email": unique_email(), "password": PASSWORD}, headers=headers
    )
    assert_problem(r, 401, "INVALID_CREDENTIALS")


def test_ipv6_clients_are_counted_per_64() -> None:
    assert address_bucket("2001:db8:1:2::1") == address_bucket("2001:db8:1:2:ffff::9")
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")
    assert address_bucket("::ffff:192.0.2.7") == address_bucket("192.0.2.7") == "192.0.2.7"
    assert address_bucket("not an address") == "not an address"


# Password policy ------------------------------------------------------------------------------

COMMON = ["password123", "12345678", "qwertyuiop", "iloveyou", "Password1!", "P@ssw0rd2024"]


@pytest.mark.parametrize("password", COMMON)
async def test_common_passwords_are_refused(client: httpx.AsyncClient, password: str) -> None:
    b = body(password=password)
    r = await client.post("/api/auth/signup", json=b)
    problem = assert_problem(r, 422, "PASSWORD_TOO_WEAK")
    assert problem["errors"][0]["loc"] == ["body", "password"]
    assert password not in r.text
    assert await accounts([b["email"]]) == 0


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("asha.rao@example.com", "asha.rao@example.com"),
        ("asha.rao@example.com", "my ASHA.RAO@example.com key"),
        ("asha.rao@example.com", "AshaRao-2024!"),
        ("vikram@example.com", "vikramvikram"),
        ("vikram@example.com", "Vikram-Mumbai-Beach-77"),
    ],
)
async def test_passwords_made_of_the_email_are_refused(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    local, domain = email.split("@")
    email = f"{local}@{uuid.uuid4().hex[:8]}.{domain}"
    r = await client.post("/api/auth/signup", json=body(email=email, password=password))
    problem = assert_problem(r, 422, "PASSWORD_TOO_WEAK")
    assert "email" in problem["detail"]
    assert password not in r.text


async def test_a_weak_password_is_refused_before_hashing(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    r = await client.post("/api/auth/signup", json=body(password="password123"))
    assert_problem(r, 422, "PASSWORD_TOO_WEAK")
    assert hashes == []


@pytest.mark.parametrize(
    "password",
    [
        PASSWORD,  # tests/auth_service
        "another password",  # tests/auth_service/test_signup.py
        "correct horse 1",  # tests/e2e
        "correct-horse-battery",  # tests/e2e, tests/booking_service, postman_collection.json
        "bench-password-1",  # bench/common.py
        "correct-horse",  # README.md
        # 128 characters: only a prefix is scored (zxcvbn itself refuses over 72).
        ("seven quiet herons of Lake Vembanad eat silver fish at dawn " * 3)[:128],
    ],
)
async def test_the_repositorys_passwords_pass(client: httpx.AsyncClient, password: str) -> None:
    r = await client.post("/api/auth/signup", json=body(password=password))
    assert r.status_code == 201, r.text


def test_scoring_stays_cheap_on_the_costliest_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """zxcvbn's l33t matching grows fast with length (72 characters of l33t symbols: ~250 ms)
    and it refuses more than 72: only the first 32 characters are scored (~65 ms)."""
    scored: list[str] = []
    real = password_policy.zxcvbn

    def recording(password: str, **kw: Any) -> Any:
        scored.append(password)
        return real(password, **kw)

    monkeypatch.setattr(password_policy, "zxcvbn", recording)
    password_policy.evaluate("4@8(36#1!05$7+2|" * 8, email="x@example.com")  # 128 characters
    assert [len(p) for p in scored] == [32]


def test_min_score_zero_keeps_the_email_rules() -> None:
    assert password_policy.evaluate("password123", email="a@example.com", min_score=0).ok
    verdict = password_policy.evaluate("bob-smith-1", email="bob.smith@example.com", min_score=0)
    assert not verdict.ok
