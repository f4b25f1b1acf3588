"""Minting tokens: signed access tokens (JWT) and opaque refresh tokens (stored hashed)."""

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from auth_service.keys import SigningKey

REFRESH_TOKEN_BYTES = 48


@dataclass(frozen=True)
class TokenPair:
    user_id: int
    access_token: str
    refresh_token: str
    expires_in: int


class AccessTokens:
    """Signs access tokens for one issuer and audience with a fixed lifetime."""

    def __init__(
        self,
        signing_key: SigningKey,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        refresh_ttl_seconds: int,
    ) -> None:
        self.signing_key = signing_key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self.refresh_ttl_seconds = refresh_ttl_seconds

    def mint(self, *, user_id: int, role: str, email: str, name: str) -> str:
        """An access token. `name` lets a service show the account holder (a booking's default
        passenger) without asking this service for it."""
        now = int(time.time())
        return self.signing_key.sign(
            {
                "sub": str(user_id),
                "role": role,
                "email": email,
                "name": name,
                "typ": "access",
                "iss": self.issuer,
                "aud": self.audience,
                "iat": now,
                "nbf": now,
                "exp": now + self.ttl_seconds,
                "jti": uuid.uuid4().hex,
            }
        )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens have 384 random bits: a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()
