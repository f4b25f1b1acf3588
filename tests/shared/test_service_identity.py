"""shared.service_identity: per-service Ed25519 keys, tokens bound to their callee."""

import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from shared.errors import InvalidToken
from shared.service_identity import ServiceIdentity, ensure_key_pair
from tests.helpers import service_claims


def identity(directory: Path, service: str, **kw: bool) -> ServiceIdentity:
    return ServiceIdentity(directory=directory, service=service, **kw)


def test_a_token_names_its_caller_to_the_callee_it_was_minted_for(tmp_path: Path) -> None:
    booking, seat = identity(tmp_path, "booking"), identity(tmp_path, "seat")
    assert seat.verify(booking.token_for("seat")) == "booking"
    with pytest.raises(InvalidToken):
        identity(tmp_path, "payment").verify(booking.token_for("seat"))


def test_keys_are_generated_once_private_0600_and_public_beside_it(tmp_path: Path) -> None:
    first, created = ensure_key_pair(tmp_path, "booking")
    again, created_again = ensure_key_pair(tmp_path, "booking")
    assert created and not created_again
    assert first.private_bytes_raw() == again.private_bytes_raw()
    assert stat.S_IMODE(os.stat(tmp_path / "booking.key").st_mode) == 0o600
    assert (tmp_path / "booking.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_production_never_generates_a_key(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="No service key"):
        identity(tmp_path, "booking", generate=False).mint("seat")
    assert not (tmp_path / "booking.key").exists()


def test_a_caller_cannot_speak_for_another_service(tmp_path: Path) -> None:
    booking, seat = identity(tmp_path, "booking"), identity(tmp_path, "seat")
    identity(tmp_path, "payment").mint("seat")  # the payment service has a key too
    claims = service_claims("payment", "seat")
    forged = jwt.encode(claims, booking.private_key, algorithm="EdDSA", headers={"kid": "payment"})
    with pytest.raises(InvalidToken):
        seat.verify(forged)


@pytest.mark.parametrize("kid", ["../booking", "/etc/passwd", "BOOKING", "", "a" * 40, "gateway"])
def test_a_key_id_that_is_no_service_never_reaches_the_disk(tmp_path: Path, kid: str) -> None:
    seat = identity(tmp_path, "seat")
    signer = identity(tmp_path, "booking")
    claims = service_claims(kid, "seat")
    token = jwt.encode(claims, signer.private_key, algorithm="EdDSA", headers={"kid": kid})
    with pytest.raises(InvalidToken):
        seat.verify(token)
    assert seat._looked_at == {} and seat._public == {}  # nothing looked up, nothing kept


def test_expired_and_hs256_tokens_are_refused(tmp_path: Path) -> None:
    booking, seat = identity(tmp_path, "booking"), identity(tmp_path, "seat")
    claims = service_claims("booking", "seat", age=120)  # expired a minute ago
    expired = jwt.encode(claims, booking.private_key, algorithm="EdDSA", headers={"kid": "booking"})
    hs256 = jwt.encode(service_claims("booking", "seat"), "s" * 32, headers={"kid": "booking"})
    for token in (expired, hs256):
        with pytest.raises(InvalidToken):
            seat.verify(token)


def test_a_replaced_key_is_picked_up(tmp_path: Path) -> None:
    seat = identity(tmp_path, "seat")
    assert seat.verify(identity(tmp_path, "booking").mint("seat")) == "booking"
    for name in ("booking.key", "booking.pub"):
        (tmp_path / name).unlink()
    time.sleep(1.1)  # an unknown signature looks at the disk again at most once a second
    assert seat.verify(identity(tmp_path, "booking").mint("seat")) == "booking"


def test_derived_secrets_differ_by_purpose_and_service(tmp_path: Path) -> None:
    booking, payment = identity(tmp_path, "booking"), identity(tmp_path, "payment")
    assert booking.derived_secret("a") == booking.derived_secret("a")
    assert booking.derived_secret("a") != booking.derived_secret("b")
    assert booking.derived_secret("a") != payment.derived_secret("a")


async def test_production_refuses_to_start_without_its_key(tmp_path: Path) -> None:
    from asgi_lifespan import LifespanManager

    from shared.app import create_app
    from shared.settings import BaseServiceSettings

    settings = BaseServiceSettings(
        environment="production", service_name="booking", service_keys_dir=tmp_path
    )
    app = create_app(settings=settings, title="t", uses_database=False)
    with pytest.raises(RuntimeError, match="No service key for booking"):
        async with LifespanManager(app):
            pass
