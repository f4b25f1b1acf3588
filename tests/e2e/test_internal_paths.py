"""`/internal/` endpoints: a user token is refused (403) by a service, never routed (404) by
the gateway, and a service token is accepted.

No service has an `/internal/` route of its own yet, so the service side is a minimal app
built the way every service is (`shared.app.create_app`, the `CallingService` guard), verifying
user tokens with the real auth service's JWKS.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter

from shared.app import create_app
from shared.security import CallingService, mint_service_token
from shared.settings import BaseServiceSettings
from tests.conftest import app_client
from tests.e2e.checks import assert_problem, bearer
from tests.e2e.conftest import SignUp
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

SECRET = "e2e-service-token-secret-0123456789abcdef"


@pytest.fixture
async def internal_service(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.get("/internal/holds/{hold_id}")
    async def internal_hold(hold_id: int, caller: CallingService) -> dict[str, object]:
        return {"holdId": hold_id, "caller": caller}

    settings = BaseServiceSettings(
        service_name="internal-test",
        jwks_url=f"{stack.services['auth'].url}/.well-known/jwks.json",
        service_token_secret=SECRET,
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
    service_token = mint_service_token(secret=SECRET, service="booking")
    ok = await internal_service.get("/internal/holds/1", headers=bearer(service_token))
    assert ok.status_code == 200 and ok.json() == {"holdId": 1, "caller": "booking"}


async def test_internal_paths_are_404_through_the_gateway_whatever_the_token(
    gateway: httpx.AsyncClient, signup: SignUp
) -> None:
    user = await signup()
    service_token = mint_service_token(secret=SECRET, service="booking")
    for path in ("/internal/holds/1", "/api/seats/internal/holds/1", "/api/auth/internal/users"):
        for headers in ({}, bearer(user["token"]), bearer(service_token)):
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
    if not routes:
        pytest.skip("no service documents an /internal/ route yet")
    user = await signup()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        for name, path, query in routes:
            url = f"{stack.service_urls[name]}{path}"
            direct = await client.get(url, params=query, headers=bearer(user["token"]))
            assert_problem(direct, 403, "FORBIDDEN")
            assert_problem(await client.get(url, params=query), 401)
            via_gateway = await gateway.get(path, params=query, headers=bearer(user["token"]))
            assert_problem(via_gateway, 404, "NOT_FOUND")
