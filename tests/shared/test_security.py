"""shared.security: user tokens via the JWKS of a real HTTP server, and the dependencies that
guard public and `/internal/` routes (service tokens: tests/shared/test_service_identity.py)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI
from jwt.algorithms import OKPAlgorithm

from shared.app import create_app
from shared.errors import Forbidden, ServiceUnavailable
from shared.security import (
    AdminUser,
    CurrentUser,
    JwksKeys,
    Principal,
    ensure_self_or_admin,
)
from shared.service_identity import internal_caller
from shared.settings import BaseServiceSettings
from tests.helpers import access_claims, assert_problem, bearer, free_port, service_token
from tests.shared import upstream as up
from tests.shared.conftest import serve

KEY_A = Ed25519PrivateKey.generate()
KEY_B = Ed25519PrivateKey.generate()


def jwk(private: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    doc = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**doc, "kid": kid, "use": "sig", "alg": "EdDSA"}


def user_token(
    user_id: int = 7,
    *,
    key: Any = KEY_A,
    kid: str = "kA",
    algorithm: str = "EdDSA",
    **claims: Any,
) -> str:
    body = access_claims(user_id, ttl=300, **claims)
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(autouse=True)
def published_keys() -> Iterator[None]:
    up.JWKS["keys"] = [jwk(KEY_A, "kA")]
    yield
    up.JWKS["keys"] = []


def build_app(upstream: str) -> FastAPI:
    router = APIRouter()

    @router.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"userId": user.user_id, "role": user.role}

    @router.get("/admin-only")
    async def admin_only(user: AdminUser) -> dict[str, Any]:
        return {"userId": user.user_id}

    @router.get("/internal/ping")
    async def ping(service: Annotated[str, internal_caller("booking")]) -> dict[str, str]:
        return {"service": service}

    settings = BaseServiceSettings(
        service_name="seat",
        jwks_url=f"{upstream}/jwks?k={uuid.uuid4().hex}",
    )
    return create_app(settings=settings, title="t", routers=[router], uses_database=False)


@pytest.fixture(scope="module")
async def client(upstream: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(build_app(upstream)) as c:
        yield c


async def test_user_token_reaches_public_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(user_token(7)))
    assert response.status_code == 200
    assert response.json() == {"userId": 7, "role": "user"}


async def test_service_token_is_accepted_on_internal_routes(client: httpx.AsyncClient) -> None:
    token = service_token("booking", "seat")
    response = await client.get("/internal/ping", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"service": "booking"}


async def test_user_token_on_internal_route_is_forbidden(client: httpx.AsyncClient) -> None:
    response = await client.get("/internal/ping", headers=bearer(user_token(7)))
    assert_problem(response, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer a.b.c"},
    ],
)
async def test_missing_or_garbage_tokens_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in ("/me", "/internal/ping"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] in ("UNAUTHORIZED", "INVALID_TOKEN")


async def test_service_token_for_another_callee_is_401_and_another_caller_403(
    client: httpx.AsyncClient,
) -> None:
    token = service_token("booking", "payment")
    assert (await client.get("/internal/ping", headers=bearer(token))).status_code == 401
    token = service_token("discount", "seat")
    response = await client.get("/internal/ping", headers=bearer(token))
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


async def test_service_token_is_not_a_user_token(client: httpx.AsyncClient) -> None:
    token = service_token("booking", "seat")
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: user_token(exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda: user_token(nbf=int(time.time()) + 600), id="nbf-future"),
        pytest.param(lambda: user_token(aud="someone-else"), id="wrong-aud"),
        pytest.param(lambda: user_token(iss="evil"), id="wrong-iss"),
        pytest.param(lambda: user_token(typ="refresh"), id="refresh-typ"),
        pytest.param(lambda: user_token(key=KEY_B), id="other-key-same-kid"),
        pytest.param(lambda: user_token(key=KEY_B, kid="unknown"), id="unknown-kid"),
        pytest.param(lambda: user_token(key=None, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda: user_token(key="hs256-secret-0123456789abcdef0123", algorithm="HS256"),
            id="hs256",
        ),
        pytest.param(lambda: user_token(sub="service:booking"), id="non-user-sub"),
        pytest.param(lambda: user_token(exp=None), id="no-exp"),
    ],
)
async def test_bad_user_tokens_are_401(client: httpx.AsyncClient, token: Any) -> None:
    response = await client.get("/me", headers=bearer(token()))
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


async def test_admin_role_is_required(client: httpx.AsyncClient) -> None:
    as_user = await client.get("/admin-only", headers=bearer(user_token(7)))
    assert as_user.status_code == 403
    as_admin = await client.get("/admin-only", headers=bearer(user_token(1, role="admin")))
    assert as_admin.status_code == 200


def test_ensure_self_or_admin() -> None:
    user = Principal(7, "user")
    ensure_self_or_admin(user, 7)
    ensure_self_or_admin(user, None)
    with pytest.raises(Forbidden):
        ensure_self_or_admin(user, 8)
    ensure_self_or_admin(Principal(1, "admin"), 8)


# --- JwksKeys -----------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def test_jwks_refetches_on_unknown_kid_at_most_once_per_interval(
    upstream: str, http: httpx.AsyncClient
) -> None:
    k = uuid.uuid4().hex
    keys = JwksKeys(f"{upstream}/jwks?k={k}", client=http, min_refresh_seconds=0.5)

    assert await keys.get("kA") is not None
    assert up.hits("/jwks", k) == 1
    assert await keys.get("kA") is not None  # cached
    assert up.hits("/jwks", k) == 1

    # The auth service rotates in a new key.
    up.JWKS["keys"] = [jwk(KEY_A, "kA"), jwk(KEY_B, "kB")]
    await asyncio.sleep(0.55)
    assert await keys.get("kB") is not None  # unknown kid: refetched
    assert up.hits("/jwks", k) == 2

    # A flood of made-up kids costs at most one fetch per interval.
    assert await keys.get("made-up-1") is None
    assert up.hits("/jwks", k) == 2  # 0.5 s have not passed since the last fetch
    await asyncio.sleep(0.55)
    results = await asyncio.gather(*(keys.get(f"made-up-{i}") for i in range(20)))
    assert results == [None] * 20
    assert up.hits("/jwks", k) == 3
    assert await keys.get("kA") is not None
    assert up.hits("/jwks", k) == 3


async def test_jwks_refreshes_when_stale(upstream: str, http: httpx.AsyncClient) -> None:
    k = uuid.uuid4().hex
    keys = JwksKeys(
        f"{upstream}/jwks?k={k}", client=http, min_refresh_seconds=0, max_age_seconds=0.3
    )
    assert await keys.get("kA") is not None
    up.JWKS["keys"] = [jwk(KEY_B, "kB")]  # kA retired
    await asyncio.sleep(0.35)
    assert await keys.get("kA") is None
    assert up.hits("/jwks", k) == 2


async def test_jwks_unreachable(upstream: str, http: httpx.AsyncClient) -> None:
    dead = f"http://127.0.0.1:{free_port()}/jwks"
    with pytest.raises(ServiceUnavailable):
        await JwksKeys(dead, client=http, min_refresh_seconds=0).get("kA")

    # With keys cached, an outage keeps the known keys serving.
    keys = JwksKeys(f"{upstream}/jwks", client=http, min_refresh_seconds=0)
    assert await keys.get("kA") is not None
    keys.url = dead
    assert await keys.get("unknown") is None
    assert await keys.get("kA") is not None
