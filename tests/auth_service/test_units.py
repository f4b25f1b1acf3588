"""Unit tests: password hashing parameters, the signing key, settings."""

import base64
import os
import stat
from pathlib import Path

import argon2
import bcrypt
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from auth_service import passwords
from auth_service.config import PUBLISHED_ADMIN_PASSWORDS, AuthSettings
from auth_service.keys import SigningKey, load_signing_key
from auth_service.service import normalise_email
from auth_service.tokens import hash_refresh_token, new_refresh_token

PROD = {"environment": "production"}


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


async def test_password_hash_is_argon2id_with_owasp_parameters() -> None:
    hashed = await passwords.hash_password("a password")
    params = argon2.extract_parameters(hashed)
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2
    assert params.parallelism == 1
    assert await passwords.verify_password("a password", hashed) == (True, None)
    assert await passwords.verify_password("another", hashed) == (False, None)


async def test_bcrypt_verifies_and_asks_for_an_upgrade() -> None:
    legacy = bcrypt.hashpw(b"a password", bcrypt.gensalt(rounds=4)).decode()
    ok, new_hash = await passwords.verify_password("a password", legacy)
    assert ok
    assert new_hash is not None and new_hash.startswith("$argon2id$")
    assert await passwords.verify_password("wrong", legacy) == (False, None)
    # bcrypt refuses passwords over 72 bytes: a failed check, not an error.
    assert await passwords.verify_password("x" * 100, legacy) == (False, None)


async def test_unknown_hash_format_fails_closed() -> None:
    assert await passwords.verify_password("a password", "plaintext") == (False, None)


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.1 (key) and A.3 (its JWK thumbprint).
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(d))
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert key.public_jwk()["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert repr(key) == f"SigningKey(kid={key.kid!r})"  # never the private half


def test_sign_puts_the_kid_in_the_header() -> None:
    key = SigningKey.generate()
    token = key.sign({"sub": "1"})
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}
    assert jwt.decode(token, key.public_key, algorithms=["EdDSA"]) == {"sub": "1"}


def test_missing_key_file_is_generated_outside_production(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "signing.pem"
    settings = AuthSettings(environment="development", auth_signing_key_file=path)
    key = load_signing_key(settings)
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_signing_key(settings).kid == key.kid  # the same key next time
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temp files left


def test_production_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    settings = AuthSettings(
        **PROD, admin_password="a real password", auth_signing_key_file=tmp_path / "none.pem"
    )
    with pytest.raises(RuntimeError, match="AUTH_SIGNING_KEY"):
        load_signing_key(settings)
    assert not (tmp_path / "none.pem").exists()


def test_inline_key_wins_over_the_file(tmp_path: Path) -> None:
    inline = Ed25519PrivateKey.generate()
    file_key = Ed25519PrivateKey.generate()
    path = tmp_path / "k.pem"
    path.write_bytes(_pem(file_key))
    settings = AuthSettings(auth_signing_key=_pem(inline).decode(), auth_signing_key_file=path)
    assert load_signing_key(settings).kid == SigningKey(inline).kid
    assert (
        load_signing_key(AuthSettings(auth_signing_key_file=path)).kid == SigningKey(file_key).kid
    )


def test_inline_key_with_escaped_newlines_and_blank_inline_key(tmp_path: Path) -> None:
    inline = Ed25519PrivateKey.generate()
    escaped = _pem(inline).decode().replace("\n", "\\n")
    assert load_signing_key(AuthSettings(auth_signing_key=escaped)).kid == SigningKey(inline).kid
    path = tmp_path / "k.pem"
    settings = AuthSettings(auth_signing_key="  ", auth_signing_key_file=path)
    assert settings.auth_signing_key is None
    assert load_signing_key(settings).kid == SigningKey.from_pem(path.read_bytes()).kid


def test_a_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ValueError, match="Ed25519"):
        load_signing_key(AuthSettings(auth_signing_key_file=path))
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="PEM"):
        load_signing_key(AuthSettings(auth_signing_key_file=path))


def test_the_published_admin_password_is_refused_outside_tests() -> None:
    (published,) = PUBLISHED_ADMIN_PASSWORDS
    for environment in ("production", "development"):
        with pytest.raises(ValidationError, match="ADMIN_PASSWORD"):
            AuthSettings(environment=environment, admin_password=published)
    assert AuthSettings(environment="test", admin_password=published).admin_password
    assert AuthSettings(**PROD, admin_password="a real password").environment == "production"
    # Unset, it is read from ADMIN_PASSWORD_FILE (generated outside production).
    assert AuthSettings(**PROD, admin_password=None).admin_password is None
    with pytest.raises(ValidationError, match="at least 8"):
        AuthSettings(admin_password="short")


def test_email_normalisation() -> None:
    assert normalise_email("  Asha.Rao@Example.COM ") == "asha.rao@example.com"


def test_refresh_tokens_are_long_random_and_hashed() -> None:
    token = new_refresh_token()
    assert len(token) == 64
    assert token != new_refresh_token()
    assert hash_refresh_token(token) != token
    assert len(hash_refresh_token(token)) == 64
