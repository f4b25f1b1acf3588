"""`/internal/` endpoints: a user token is refused (403) by a service, never routed (404) by
the gateway, and a service token of an allowed caller is accepted.

The service side of the first test is a minimal app built the way every service is
(`shared.app.create_app`, the `internal_caller` guard), verifying user tokens with the real
auth service's JWKS; tests/e2e/test_service_identity.py covers the real services.
"""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter

from shared.app import create_app
from shared.service_identity import internal_caller
from shared.settings import BaseServiceSettings
from tests.conftest import app_client
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Stack
from tests.helpers import assert_problem, bearer, service_token

pytestmark = pytest.mark.e2e


@pytest.fixture
async def internal_service(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.get("/internal/holds/{hold_id}")
    async def internal_hold(
        hold_id: int, caller: Annotated[str, internal_caller("booking")]
    ) -> dict[str, object]:
        return {"holdId": hold_id, "caller": caller}

    settings = BaseServiceSettings(
        service_name="seat",
        jwks_url=f"{stack.services['auth'].url}/.well-known/jwks.json",
    )
    app = create_app(settings=settings, title="t", routers=[router], uses_database=False)
    async for client in app_client(app):
        yield client


async def test_user_token_on_internal_path_is_403_at_a_service(
    internal_service: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    response = await internal_service.get("/internal/holds/1", headers=bearer(user["token"]))
    assert_problem(response, 403, "FORBIDDEN")
    assert_problem(await internal_service.get("/internal/holds/1"), 401)
    ok = await internal_service.get(
        "/internal/holds/1", headers=bearer(service_token("booking", "seat"))
    )
    assert ok.status_code == 200 and ok.json() == {"holdId": 1, "caller": "booking"}
    # Another service, or the right one with a token minted for someone else: refused.
    other = await internal_service.get(
        "/internal/holds/1", headers=bearer(service_token("payment", "seat"))
    )
    assert_problem(other, 403, "FORBIDDEN")
    elsewhere = await internal_service.get(
        "/internal/holds/1", headers=bearer(service_token("booking", "payment"))
    )
    assert_problem(elsewhere, 401)


async def test_internal_paths_are_404_through_the_gateway_whatever_the_token(
    gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    token = service_token("booking", "seat")
    for path in ("/internal/holds/1", "/api/seats/internal/holds/1", "/api/auth/internal/users"):
        for headers in ({}, bearer(user["token"]), bearer(token)):
            for method in ("GET", "POST", "DELETE"):
                response = await gateway.request(method, path, headers=headers)
                assert_problem(response, 404, "NOT_FOUND")


async def internal_get_routes(stack: Stack) -> list[tuple[str, str, dict[str, str]]]:
    """(service, concrete path, query) for every documented `GET /internal/...` route."""
    found = []
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        for name, url in stack.service_urls.items():
            doc = (await client.get(f"{url}/openapi.json")).json()
            for path, item in doc.get("paths", {}).items():
                operation = item.get("get")
                if "/internal/" not in path + "/" or operation is None:
                    continue
                params = operation.get("parameters", [])
                concrete = path
                query = {}
                for p in params:
                    if p["in"] == "path":
                        concrete = concrete.replace("{" + p["name"] + "}", "1")
                    elif p["in"] == "query" and p.get("required"):
                        query[p["name"]] = "1"
                found.append((name, concrete, query))
    return found


async def test_real_services_refuse_user_tokens_on_their_internal_routes(
    stack: Stack, gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    routes = await internal_get_routes(stack)
    assert routes, "no service documents an /internal/ route: the walk below would prove nothing"
    user = await signup()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        for name, path, query in routes:
            url = f"{stack.service_urls[name]}{path}"
            direct = await client.get(url, params=query, headers=bearer(user["token"]))
            assert_problem(direct, 403, "FORBIDDEN")
            assert_problem(await client.get(url, params=query), 401)
            via_gateway = await gateway.get(path, params=query, headers=bearer(user["token"]))
            assert_problem(via_gateway, 404, "NOT_FOUND")
