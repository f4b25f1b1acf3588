"""Token verification for every service and the gateway.

User access tokens are signed by the auth service alone (EdDSA, with a `kid`); everyone else
only verifies them, with the public keys from the auth service's JWKS. Internal calls between
services carry service tokens instead (`shared.service_identity`), which can never pass as a
user token and vice versa: each verification pins its own key, audience and type.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
import jwt
from fastapi import Depends, Request
from jwt import PyJWK

from shared.errors import Forbidden, InvalidToken, ServiceUnavailable, Unauthorized
from shared.logging import user_id_var

USER_TOKEN_ALGORITHMS = ["EdDSA"]


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: str
    email: str | None = None
    name: str | None = None  # the account holder's name, for a booking's default passenger

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class KeySource(Protocol):
    async def get(self, kid: str) -> Any: ...


class StaticKeys:
    """Keys known up front (the auth service verifying its own tokens)."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys

    async def get(self, kid: str) -> Any:
        return self.keys.get(kid)


class JwksKeys:
    """Public keys fetched from a JWKS URL, cached, refetched when an unknown `kid` shows up.

    Refetches are spaced by `min_refresh_seconds` so a flood of made-up `kid`s cannot turn
    into a flood of requests to the auth service.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient,
        min_refresh_seconds: float = 10.0,
        max_age_seconds: float = 3600.0,
    ) -> None:
        self.url = url
        self.client = client
        self.min_refresh = min_refresh_seconds
        self.max_age = max_age_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        # Bumped whenever the key set changes (verifiers drop what they cached under the old).
        self.generation = 0

    async def get(self, kid: str) -> Any:
        now = time.monotonic()
        stale = now - self._fetched_at > self.max_age
        if kid not in self._keys or stale:
            async with self._lock:
                if (
                    kid not in self._keys or stale
                ) and time.monotonic() - self._fetched_at >= self.min_refresh:
                    await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            response = await self.client.get(self.url, timeout=3.0)
            response.raise_for_status()
            jwks = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if not self._keys:
                raise ServiceUnavailable("Token keys are unavailable (auth service down?)") from exc
            return  # keep serving the keys we have
        finally:
            self._fetched_at = time.monotonic()
        keys = {}
        for jwk in jwks.get("keys", []):
            if "kid" in jwk and jwk.get("use", "sig") == "sig":
                try:
                    keys[jwk["kid"]] = PyJWK(jwk).key
                except jwt.PyJWTError:
                    continue
        if keys.keys() != self._keys.keys():
            self.generation += 1
        self._keys = keys


class TokenVerifier:
    """Verifies users' access tokens; a token already verified is remembered until it expires.

    A client sends the same token on every call for its whole lifetime (15 minutes), and the
    signature check is most of the cost of an authenticated request; the cache is keyed by the
    exact token string, so only a token whose signature was checked can hit. It is emptied when
    the key set changes (a key withdrawn from the JWKS stops its tokens at once).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: int = 5,
        cache_size: int = 10_000,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cache_size = cache_size
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._key_generation = getattr(keys, "generation", 0)

    async def verify_access(self, token: str) -> Principal:
        """A user's access token -> its principal, or `InvalidToken`."""
        generation = getattr(self.keys, "generation", 0)
        if generation != self._key_generation:
            self._verified.clear()
            self._key_generation = generation
        known = self._verified.get(token)
        if known is not None:
            principal, expires_at = known
            if time.time() < expires_at + self.leeway:
                return principal
            del self._verified[token]
        principal, expires_at = await self._verify(token)
        if self.cache_size > 0:
            if len(self._verified) >= self.cache_size:
                # Evict the oldest entry (dicts keep insertion order).
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, expires_at)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        """Check the token in full: its principal and expiry, or `InvalidToken`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed token") from exc
        if header.get("alg") not in USER_TOKEN_ALGORITHMS:
            raise InvalidToken("Token algorithm not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("Token has no key id")
        key = await self.keys.get(kid)
        if key is None:
            raise InvalidToken("Token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=USER_TOKEN_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("Token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"Token rejected: {exc}") from exc
        if claims.get("typ") != "access":
            raise InvalidToken("Not an access token")
        try:
            name = claims.get("name")
            principal = Principal(
                int(claims["sub"]),
                str(claims.get("role", "user")),
                claims.get("email"),
                name if isinstance(name, str) else None,
            )
            return principal, float(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise InvalidToken("Token subject is not a user") from exc


def bearer_token(request: Request) -> str | None:
    return bearer_from_header(request.headers.get("authorization"))


def bearer_from_header(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if that is what it is."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_user(request: Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Missing bearer token")
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify_access(token)
    request.state.principal = principal
    user_id_var.set(str(principal.user_id))
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


async def current_admin(user: CurrentUser) -> Principal:
    if not user.is_admin:
        raise Forbidden("Administrator role required")
    return user


AdminUser = Annotated[Principal, Depends(current_admin)]


def ensure_self_or_admin(user: Principal, user_id: int | None) -> None:
    """A body or path `userId` must be the caller's own (admins excepted)."""
    if user_id is not None and user_id != user.user_id and not user.is_admin:
        raise Forbidden("userId does not match the authenticated user")
