"""Forged and misused tokens: each is a 401 at the gateway and at the service itself."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import SIGNING_KEY
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Stack
from tests.helpers import access_claims, assert_problem, b64url, bearer

pytestmark = pytest.mark.e2e

MakeToken = Callable[..., str]


def forge_hs256(claims: dict, secret: bytes, kid: str) -> str:
    """HS256 by hand: PyJWT (rightly) refuses a PEM public key as an HMAC secret."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def attacks(user_id: int, make_token: MakeToken, refresh_token: str) -> dict[str, str | None]:
    now = int(time.time())
    kid = json.loads(base64.urlsafe_b64decode(make_token(user_id).split(".")[0] + "=="))["kid"]
    claims = access_claims(user_id, role="admin")
    public = SIGNING_KEY.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "no token": None,
        "expired": make_token(user_id, iat=now - 7200, exp=now - 3600),
        "nbf in the future": make_token(user_id, nbf=now + 3600),
        "alg none": make_token(user_id, key="", algorithm="none"),
        "HS256 signed with the public key (PEM)": forge_hs256(claims, public_pem, kid),
        "HS256 signed with the public key (raw)": forge_hs256(claims, public_raw, kid),
        "signed by another key": make_token(user_id, key=Ed25519PrivateKey.generate()),
        "wrong aud": make_token(user_id, aud="someone-else"),
        "wrong iss": make_token(user_id, iss="https://evil.example"),
        "unknown kid": make_token(user_id, headers={"kid": "no-such-key"}),
        "no kid": jwt.encode(claims, SIGNING_KEY, algorithm="EdDSA"),
        "refresh token as access token": refresh_token,
        "access token typed refresh": make_token(user_id, typ="refresh"),
        "no exp": make_token(user_id, exp=None),
        "tampered payload": _tamper(make_token(user_id)),
        "garbage": "not.a.jwt",
    }


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


async def test_every_token_attack_is_401_at_gateway_and_service(
    gateway: httpx.AsyncClient, stack: Stack, signup: SignUp, make_token: MakeToken
) -> None:
    user = await signup()
    uid = user["userId"]
    # control: a well-made token of ours passes both, so each failure below is the attack's
    good = make_token(uid)
    assert (await gateway.get("/api/auth/me", headers=bearer(good))).status_code == 200
    async with httpx.AsyncClient(base_url=stack.services["auth"].url, trust_env=False) as auth:
        assert (await auth.get("/api/auth/me", headers=bearer(good))).status_code == 200

        for name, token in attacks(uid, make_token, user["refreshToken"]).items():
            headers = bearer(token) if token is not None else {}
            for where, client in (("gateway", gateway), ("auth service", auth)):
                response = await client.get("/api/auth/me", headers=headers)
                assert response.status_code == 401, f"{name} at the {where}: {response.text}"
                body = assert_problem(response, 401)
                assert body["code"] in ("UNAUTHORIZED", "INVALID_TOKEN"), (name, where, body)
                assert response.headers["www-authenticate"].startswith("Bearer")
