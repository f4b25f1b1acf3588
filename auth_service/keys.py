"""The access-token signing key: Ed25519, identified by its RFC 7638 JWK thumbprint.

Only the auth service loads this key. Everyone else verifies with the public half, published
at `/.well-known/jwks.json`.
"""

import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth_service.config import AuthSettings
from shared.keyfiles import read_or_create

log = logging.getLogger("auth_service.keys")

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """An Ed25519 private key that signs JWTs with its `kid` in the header."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("the signing key must be an Ed25519 private key")
        self._private_key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._x = _b64url(raw)
        # RFC 7638: the required members, in lexicographic order, without whitespace.
        required = {"crv": "Ed25519", "kty": "OKP", "x": self._x}
        canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
        self.kid = _b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError("the auth signing key is not an unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the auth signing key must be an Ed25519 key")
        return cls(key)

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"}
        )

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self._x,
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }

    def __repr__(self) -> str:  # never the private half
        return f"SigningKey(kid={self.kid!r})"


def _read_or_create(path: Path) -> SigningKey:
    """The key at `path`, generated (0600) if missing; another process racing to create it
    wins or loses cleanly (`shared.keyfiles`)."""
    pem, created = read_or_create(path, lambda: SigningKey.generate().private_pem())
    if created:
        log.warning("generated a new auth signing key at %s (development only)", path)
    return SigningKey.from_pem(pem)


def load_signing_key(settings: AuthSettings) -> SigningKey:
    """AUTH_SIGNING_KEY (PEM) or AUTH_SIGNING_KEY_FILE; generated outside production."""
    if settings.auth_signing_key is not None:
        return SigningKey.from_pem(settings.auth_signing_key.get_secret_value().encode())
    path = settings.auth_signing_key_file
    if path.exists():
        return SigningKey.from_pem(path.read_bytes())
    if settings.environment == "production":
        raise RuntimeError(
            "No auth signing key: set AUTH_SIGNING_KEY or AUTH_SIGNING_KEY_FILE "
            f"({path} does not exist)"
        )
    return _read_or_create(path)
