"""shared.http.ServiceClient against a real HTTP server on a local socket."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from shared.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from shared.http import ServiceClient
from shared.logging import request_id_var
from shared.service_identity import ServiceIdentity
from tests.helpers import free_port
from tests.shared import upstream as up

KEYS = Path(os.environ["SERVICE_KEYS_DIR"])


@asynccontextmanager
async def client(base_url: str, **kw: object) -> AsyncIterator[ServiceClient]:
    c = ServiceClient(
        name="seat",
        base_url=base_url,
        identity=ServiceIdentity(directory=KEYS, service="booking"),
        **kw,  # type: ignore[arg-type]
    )
    try:
        yield c
    finally:
        await c.aclose()


def key() -> str:
    return uuid.uuid4().hex


async def test_get_is_retried_on_503_until_it_succeeds(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=3) as c:
        response = await c.get("/flaky", params={"k": k, "fail": 2})
    assert response.status_code == 200
    assert response.json()["attempt"] == 3
    assert up.hits("/flaky", k) == 3


async def test_get_that_keeps_failing_gives_up_after_the_retries(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=3) as c:
        with pytest.raises(BadGateway) as caught:
            await c.get("/flaky", params={"k": k, "fail": 99})
    assert caught.value.status == 502
    assert up.hits("/flaky", k) == 3


async def test_post_without_idempotency_key_is_not_retried(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=3) as c:
        with pytest.raises(BadGateway):
            await c.post("/flaky", params={"k": k, "fail": 1})
    assert up.hits("/flaky", k) == 1


async def test_post_with_idempotency_key_is_retried(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=3) as c:
        response = await c.post(
            "/flaky", params={"k": k, "fail": 2}, json={}, headers={"Idempotency-Key": k}
        )
        assert response.status_code == 200
        assert response.json()["method"] == "POST"
        assert up.hits("/flaky", k) == 3
        echoed = (await c.post("/echo", json={}, headers={"Idempotency-Key": k})).json()
        assert echoed["idempotencyKey"] == k
        k2 = key()  # header names are case-insensitive
        response = await c.post(
            "/flaky", params={"k": k2, "fail": 1}, json={}, headers={"idempotency-key": k2}
        )
    assert response.status_code == 200
    assert up.hits("/flaky", k2) == 2


async def test_client_errors_are_returned_not_retried(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=3) as c:
        response = await c.request("POST", "/conflict", params={"k": k})
    assert response.status_code == 409
    assert up.hits("/conflict", k) == 1


async def test_upstream_500_is_a_bad_gateway(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=3) as c:
        with pytest.raises(BadGateway) as caught:
            await c.get("/boom", params={"k": k})
    assert caught.value.status == 502
    assert up.hits("/boom", k) == 1


async def test_connection_refused_is_service_unavailable() -> None:
    async with client(f"http://127.0.0.1:{free_port()}", retries=2) as c:
        with pytest.raises(ServiceUnavailable) as caught:
            await c.get("/anything")
    assert caught.value.status == 503
    assert caught.value.code == "SERVICE_UNAVAILABLE"


async def test_timeout_is_gateway_timeout(upstream: str) -> None:
    k = key()
    async with client(upstream, retries=2, timeout=0.3) as c:
        with pytest.raises(GatewayTimeout) as caught:
            await c.get("/slow", params={"k": k, "s": 1.5})
        assert caught.value.status == 504
        assert up.hits("/slow", k) == 2  # GET: retried once
        k2 = key()
        with pytest.raises(GatewayTimeout):
            await c.post("/slow", params={"k": k2, "s": 1.5})
        assert up.hits("/slow", k2) == 1  # POST without a key: one attempt


async def test_connection_reset_is_an_upstream_error_not_a_crash(resetting_server: str) -> None:
    async with client(resetting_server, retries=2) as c:
        with pytest.raises((ServiceUnavailable, BadGateway)):
            await c.get("/anything")
        with pytest.raises((ServiceUnavailable, BadGateway)):
            await c.post("/anything", json={})


async def test_request_id_is_passed_on(upstream: str) -> None:
    async with client(upstream) as c:
        token = request_id_var.set("req-42.abc")
        try:
            echoed = (await c.get("/echo")).json()
        finally:
            request_id_var.reset(token)
        assert echoed["requestId"] == "req-42.abc"
        assert (await c.get("/echo")).json()["requestId"] is None


async def test_internal_paths_carry_the_service_token(upstream: str) -> None:
    async with client(upstream) as c:
        internal = (await c.get("/internal/echo", user_token="a.user.token")).json()
        public_as_user = (await c.get("/echo", user_token="a.user.token")).json()
        public_as_service = (await c.get("/echo")).json()
    scheme, token = internal["authorization"].split(" ")
    assert scheme == "Bearer"
    seat = ServiceIdentity(directory=KEYS, service="seat")
    assert seat.verify(token) == "booking"  # minted for the callee
    assert public_as_user["authorization"] == "Bearer a.user.token"
    _, token = public_as_service["authorization"].split(" ")
    assert seat.verify(token) == "booking"
