"""Authorization headers: a user's bearer token, and service tokens of this test run."""

import base64
import os
import time
from pathlib import Path
from typing import Any

from shared.service_identity import ServiceIdentity


def access_claims(
    user_id: int, *, role: str = "user", ttl: int = 600, **claims: Any
) -> dict[str, Any]:
    """The claims of an access token as the auth service signs them, `claims` overriding (a
    claim given as None is left out)."""
    now = int(time.time())
    body = {
        "sub": str(user_id),
        "role": role,
        "typ": "access",
        "iss": "flightbook-auth",
        "aud": "flightbook",
        "iat": now,
        "exp": now + ttl,
        **claims,
    }
    return {k: v for k, v in body.items() if v is not None}


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWT segments are written (for tokens forged by hand)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that carries `token`."""
    return {"Authorization": f"Bearer {token}"}


def service_token(caller: str, callee: str) -> str:
    """A service token of `caller` for a call to `callee`, signed with the caller's key of this
    test run (tests/conftest.py's SERVICE_KEYS_DIR), as the caller itself would mint it."""
    identity = ServiceIdentity(directory=Path(os.environ["SERVICE_KEYS_DIR"]), service=caller)
    return identity.mint(callee)


def service_headers(caller: str, callee: str) -> dict[str, str]:
    return bearer(service_token(caller, callee))


def service_claims(caller: str, callee: str, *, ttl: int = 60, age: int = 0) -> dict[str, Any]:
    """The claims of `caller`'s service token for `callee`, as `shared.service_identity` mints
    them (tests forge variants): issued `age` seconds ago, valid `ttl` seconds from then."""
    issued = int(time.time()) - age
    return {
        "iss": f"service:{caller}",
        "sub": f"service:{caller}",
        "aud": f"service:{callee}",
        "typ": "service",
        "iat": issued,
        "exp": issued + ttl,
    }
