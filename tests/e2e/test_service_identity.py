"""Service identity against the real services: what an outside tester did with the published
development secret no longer works, and a service can act only as itself.

The tester signed an HS256 service token with the secret from the repository, read another
user's booking (`GET :6000/internal/bookings/{id}`), set its discount to the full fare
(`POST :6000/internal/bookings/{id}/discount`) and paid 0.00. Now every service signs with its
own Ed25519 key (the run's, generated, never in the repository), each token is bound to its
callee, and each internal route names its callers.
"""

import os
import time
from pathlib import Path

import httpx
import jwt
import pytest

from shared.service_identity import ServiceIdentity
from tests.e2e.checks import create_flight
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Stack
from tests.helpers import assert_problem, bearer, service_claims, service_token

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference_data")]

KEYS = Path(os.environ["SERVICE_KEYS_DIR"])
# The shared secret the repository used to ship as the development default.
PUBLISHED_SECRET = "dev-only-service-token-secret-change-me"


def published_secret_token(service: str) -> str:
    now = int(time.time())
    claims = {
        "sub": f"service:{service}",
        "aud": "flightbook-internal",
        "typ": "service",
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode(claims, PUBLISHED_SECRET, algorithm="HS256")


async def a_booking(gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str]) -> int:
    user = await signup()
    flight = await create_flight(gateway, admin, days=20)
    hold = await gateway.post(
        "/api/seats/lock",
        json={"flightId": flight["id"], "seatNumber": "3A"},
        headers=bearer(user["token"]),
    )
    assert hold.status_code == 201, hold.text
    booking = await gateway.post(
        "/api/bookings", json={"holdIds": [hold.json()["holdId"]]}, headers=bearer(user["token"])
    )
    assert booking.status_code == 201, booking.text
    return booking.json()["id"]


async def test_the_published_development_secret_opens_nothing(
    stack: Stack, gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str]
) -> None:
    booking_id = await a_booking(gateway, signup, admin)
    bookings = stack.service_urls["booking"]
    async with httpx.AsyncClient(base_url=bookings, timeout=10, trust_env=False) as client:
        for caller in ("payment", "discount"):
            forged = bearer(published_secret_token(caller))
            assert_problem(
                await client.get(f"/internal/bookings/{booking_id}", headers=forged), 401
            )
            discount = await client.post(
                f"/internal/bookings/{booking_id}/discount",
                json={"code": "FREE", "discount": "1.00"},
                headers=forged,
            )
            assert_problem(discount, 401)


async def test_each_internal_route_names_its_callers(
    stack: Stack, gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str]
) -> None:
    booking_id = await a_booking(gateway, signup, admin)
    bookings = stack.service_urls["booking"]
    async with httpx.AsyncClient(base_url=bookings, timeout=10, trust_env=False) as client:
        path = f"/internal/bookings/{booking_id}"
        # The payment service may read the booking, not reprice it: that is the discount
        # service's alone.
        payment = bearer(service_token("payment", "booking"))
        assert (await client.get(path, headers=payment)).status_code == 200
        reprice = await client.post(
            f"{path}/discount", json={"code": "FREE", "discount": "1.00"}, headers=payment
        )
        assert_problem(reprice, 403, "FORBIDDEN")
        # A token the discount service minted for another callee is refused here.
        misdirected = bearer(service_token("discount", "payment"))
        assert_problem(await client.get(path, headers=misdirected), 401)
        # A token claiming to be the payment service but signed with another service's key
        # (here the booking service's own) is refused: only the caller's key speaks for it.
        booking_key = ServiceIdentity(directory=KEYS, service="booking").private_key
        claims = service_claims("payment", "booking")
        spoofed = jwt.encode(claims, booking_key, algorithm="EdDSA", headers={"kid": "payment"})
        assert_problem(await client.get(path, headers=bearer(spoofed)), 401)
