"""Service identity: which service is calling an `/internal/` route, proven by its signature.

Each service has its own Ed25519 key pair. It signs every internal call with a short-lived
token bound to the callee (`aud: service:<callee>`), and every internal route names the services
allowed to call it (`internal_caller("payment")`). So a service can act only as itself, a token
minted for one callee is refused by every other, and the public keys every service holds let
nobody sign. There is no shared secret.

Keys live in one directory (`SERVICE_KEYS_DIR`): `<service>.key` (private, PKCS#8 PEM, mode 0600)
and `<service>.pub` (public, SubjectPublicKeyInfo PEM). A service reads its own private key and
the public key of whoever calls it. On one host (the local run, Compose) every service can read
every key, so the keys keep out whoever merely reaches a port, not a compromised service; a
cluster deployment mounts every public key and only the service's own private key. Outside
production a service without a key generates its pair on first use, so a fresh checkout runs
with keys of its own and none from the repository; in production a missing key stops it.
"""

import hashlib
import hmac
import logging
import re
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request

from shared.errors import Forbidden, InvalidToken, Unauthorized
from shared.keyfiles import read_or_create, write_public
from shared.security import bearer_token
from shared.services import BY_NAME

log = logging.getLogger("shared.service_identity")

ALGORITHM = "EdDSA"
TOKEN_TTL = 60
# A service name is also a file name: nothing else may reach the file system.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# An unknown or changed public key is looked for again at most this often (per key id).
_RELOAD_SECONDS = 1.0


def _subject(service: str) -> str:
    return f"service:{service}"


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ensure_key_pair(directory: Path, service: str) -> tuple[Ed25519PrivateKey, bool]:
    """The service's private key from `<dir>/<service>.key`, generating the pair if missing.

    Returns the key and whether it was generated. The public half is (re)written beside it."""
    pem, created = read_or_create(
        directory / f"{service}.key", lambda: private_pem(Ed25519PrivateKey.generate())
    )
    key = _load_private(pem, service)
    public = public_pem(key.public_key())
    pub_path = directory / f"{service}.pub"
    if created or not pub_path.exists() or pub_path.read_bytes() != public:
        write_public(pub_path, public)
    return key, created


def _load_private(pem: bytes, service: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the service key of {service} must be an Ed25519 private key")
    return key


class ServiceIdentity:
    """This service's key, the public keys of its callers, and the tokens between them."""

    def __init__(self, *, directory: Path, service: str, generate: bool = True) -> None:
        if not _NAME.match(service):
            raise ValueError(f"not a service name: {service!r}")
        self.directory = directory
        self.service = service
        self.generate = generate  # outside production, a missing key pair is made
        self._private: Ed25519PrivateKey | None = None
        self._public: dict[str, Ed25519PublicKey] = {}
        self._looked_at: dict[str, float] = {}
        self._verified: dict[str, tuple[str, float]] = {}
        self._minted: dict[str, tuple[str, float]] = {}

    # --- signing -------------------------------------------------------------------------

    @property
    def private_key(self) -> Ed25519PrivateKey:
        if self._private is None:
            path = self.directory / f"{self.service}.key"
            if self.generate:
                self._private, created = ensure_key_pair(self.directory, self.service)
                if created:
                    log.warning("generated the %s service key pair in %s", self.service, path)
            else:
                try:
                    self._private = _load_private(path.read_bytes(), self.service)
                except FileNotFoundError:
                    raise RuntimeError(
                        f"No service key for {self.service}: {path} does not exist "
                        "(python -m shared.manage keys makes them)"
                    ) from None
        return self._private

    def mint(self, audience: str) -> str:
        """A fresh token for a call to the service `audience`."""
        now = int(time.time())
        claims = {
            "iss": _subject(self.service),
            "sub": _subject(self.service),
            "aud": _subject(audience),
            "typ": "service",
            "iat": now,
            "exp": now + TOKEN_TTL,
        }
        return jwt.encode(
            claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.service}
        )

    def token_for(self, audience: str) -> str:
        """This service's token for `audience`, reused for half its life (one signature per
        callee every 30 s, not one per call)."""
        known = self._minted.get(audience)
        if known is not None and time.monotonic() < known[1]:
            return known[0]
        token = self.mint(audience)
        self._minted[audience] = (token, time.monotonic() + TOKEN_TTL / 2)
        return token

    def derived_secret(self, purpose: str) -> bytes:
        """A secret of this service for `purpose` (e.g. keyed hashes), derived from its key,
        so no other secret has to be configured."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hmac.new(raw, purpose.encode(), hashlib.sha256).digest()

    # --- verifying -----------------------------------------------------------------------

    def _public_key(self, service: str, *, reload: bool = False) -> Ed25519PublicKey | None:
        if not reload and service in self._public:
            return self._public[service]
        now = time.monotonic()
        if now - self._looked_at.get(service, float("-inf")) < _RELOAD_SECONDS:
            return self._public.get(service)
        self._looked_at[service] = now
        try:
            key = serialization.load_pem_public_key(
                (self.directory / f"{service}.pub").read_bytes()
            )
        except (OSError, ValueError):
            return self._public.get(service)
        if isinstance(key, Ed25519PublicKey):
            self._public[service] = key
        return self._public.get(service)

    def verify(self, token: str) -> str:
        """A token minted for this service -> the caller's name, or `InvalidToken`."""
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed service token") from exc
        caller: str | None = header.get("kid")  # PyJWT refuses a `kid` that is not a string
        # Only a known service's name reaches the disk and the caches: a made-up key id costs
        # nothing and leaves nothing behind.
        if header.get("alg") != ALGORITHM or caller not in BY_NAME:
            raise InvalidToken("Not a service token")
        claims = self._decode(token, caller)
        if claims.get("typ") != "service":
            raise InvalidToken("Not a service token")
        if len(self._verified) >= 256:
            self._verified.clear()
        self._verified[token] = (caller, float(claims["exp"]))
        return caller

    def _decode(self, token: str, caller: str) -> dict[str, Any]:
        for reload in (False, True):  # a key replaced on disk is read again once
            key = self._public_key(caller, reload=reload)
            if key is None:
                continue
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=_subject(self.service),
                    issuer=_subject(caller),
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"Service token rejected: {exc}") from exc
        raise InvalidToken("Service token not signed by its service")


def internal_caller(*allowed: str) -> Any:
    """`Depends` for an `/internal/` route: a token of one of the `allowed` services, minted
    for this one. A user's token is 403, anything else 401, another service 403."""

    async def caller(request: Request) -> str:
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("Missing service token")
        state = request.app.state
        identity: ServiceIdentity = state.service_identity
        try:
            name = identity.verify(token)
        except InvalidToken:
            try:
                await state.verifier.verify_access(token)
            except InvalidToken:
                raise InvalidToken("Invalid service token") from None
            raise Forbidden("Internal endpoint: user tokens are not accepted") from None
        if name not in allowed:
            raise Forbidden(f"Internal endpoint: not open to the {name} service")
        return name

    return Depends(caller)
