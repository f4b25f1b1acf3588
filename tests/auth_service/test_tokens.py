"""Access tokens: their claims, the JWKS, /me, and every forgery /me must refuse."""

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.auth_service.conftest import signup
from tests.conftest import SIGNING_KEY, signing_kid
from tests.helpers import access_claims, assert_problem, b64url, bearer

MakeToken = Callable[..., str]


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def _claims(user_id: int) -> dict[str, Any]:
    return access_claims(user_id, role="admin")


def alg_none_token(user_id: int) -> str:
    return _segments({"alg": "none", "typ": "JWT", "kid": signing_kid()}, _claims(user_id)) + "."


def hs256_token(user_id: int, secret: bytes) -> str:
    """The classic confusion attack: HMAC keyed with the (public) verification key."""
    signing_input = _segments(
        {"alg": "HS256", "typ": "JWT", "kid": signing_kid()}, _claims(user_id)
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


PUBLIC_PEM = SIGNING_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
PUBLIC_RAW = SIGNING_KEY.public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw
)


async def test_jwks_publishes_the_signing_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    (jwk,) = response.json()["keys"]
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(PUBLIC_RAW),
        "kid": signing_kid(),
        "use": "sig",
        "alg": "EdDSA",
    }
    assert "d" not in jwk  # never the private half


async def test_access_token_claims(client: httpx.AsyncClient) -> None:
    user = await signup(client, name="Asha Rao")
    (jwk,) = (await client.get("/.well-known/jwks.json")).json()["keys"]
    token = user["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == jwk["kid"]
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
        audience="flightbook",
        issuer="flightbook-auth",
    )
    assert claims["sub"] == str(user["userId"])
    assert claims["role"] == "user"
    assert claims["email"] == user["email"]
    assert claims["name"] == "Asha Rao"  # a booking's default passenger, without asking /me
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] <= time.time()
    assert len(claims["jti"]) == 32
    other = await signup(client)
    assert jwt.decode(other["token"], options={"verify_signature": False})["jti"] != claims["jti"]


async def test_me(client: httpx.AsyncClient) -> None:
    user = await signup(client, name="Meera Iyer")
    response = await client.get("/api/auth/me", headers=bearer(user["token"]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"userId", "name", "email", "role", "createdAt"}
    assert body["userId"] == user["userId"]
    assert body["name"] == "Meera Iyer"
    assert body["role"] == "user"
    created = body["createdAt"]
    assert created.endswith("Z") or created[-6] in "+-"  # ISO 8601 with an offset


async def test_a_token_made_like_the_auth_service_does_is_accepted(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    user = await signup(client)
    response = await client.get("/api/auth/me", headers=bearer(make_token(user["userId"])))
    assert response.status_code == 200


async def test_me_for_a_deleted_user_is_404(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    response = await client.get("/api/auth/me", headers=bearer(make_token(2**62)))
    assert_problem(response, 404, "USER_NOT_FOUND")


def _attacks() -> list[Any]:
    now = int(time.time())
    other_key = Ed25519PrivateKey.generate()
    return [
        pytest.param(lambda m, uid: m(uid, iat=now - 1200, exp=now - 600), id="expired"),
        pytest.param(lambda m, uid: m(uid, nbf=now + 600), id="nbf-in-the-future"),
        pytest.param(lambda m, uid: alg_none_token(uid), id="alg-none"),
        pytest.param(lambda m, uid: hs256_token(uid, PUBLIC_PEM), id="hs256-public-pem"),
        pytest.param(lambda m, uid: hs256_token(uid, PUBLIC_RAW), id="hs256-public-raw"),
        pytest.param(lambda m, uid: m(uid, key=other_key), id="another-key"),
        pytest.param(lambda m, uid: m(uid, aud="someone-else"), id="wrong-aud"),
        pytest.param(lambda m, uid: m(uid, iss="https://evil.example"), id="wrong-iss"),
        pytest.param(lambda m, uid: m(uid, headers={"kid": "unknown-kid"}), id="unknown-kid"),
        pytest.param(lambda m, uid: m(uid, typ="refresh"), id="not-typ-access"),
        pytest.param(lambda m, uid: m(uid, exp=None), id="no-exp"),
        pytest.param(lambda m, uid: m(uid, sub="admin"), id="non-numeric-sub"),
        pytest.param(lambda m, uid: m(uid)[:-4] + "AAAA", id="tampered-signature"),
        pytest.param(lambda m, uid: "not.a.jwt", id="garbage"),
    ]


@pytest.mark.parametrize("forge", _attacks())
async def test_forged_tokens_are_401(
    client: httpx.AsyncClient, make_token: MakeToken, forge: Callable[[MakeToken, int], str]
) -> None:
    # Were a forgery accepted, /me would answer 200 (or 404 for a missing user), never 401.
    response = await client.get("/api/auth/me", headers=bearer(forge(make_token, 1)))
    assert_problem(response, 401, "INVALID_TOKEN")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_or_malformed_authorization_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/auth/me"), 401, "UNAUTHORIZED")
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "token"):
        response = await client.get("/api/auth/me", headers={"Authorization": header})
        assert_problem(response, 401, "UNAUTHORIZED")


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await client.get("/api/auth/me", headers=bearer(user["refreshToken"]))
    assert_problem(response, 401, "INVALID_TOKEN")


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["service"] == "auth"
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    openapi = (await client.get("/openapi.json")).json()
    paths = openapi["paths"].keys()
    assert {"/api/auth/signup", "/api/auth/login", "/.well-known/jwks.json"} <= paths
