"""The seed step creates the administrator once, and never promotes someone else's account."""

import httpx
import pytest

from auth_service import seed as seed_module
from auth_service.config import DEV_ADMIN_PASSWORD, AuthSettings, get_settings
from tests.auth_service.conftest import bearer, signup


async def test_seed_creates_the_admin_idempotently(client: httpx.AsyncClient) -> None:
    await seed_module.seed()
    await seed_module.seed()
    response = await client.post(
        "/api/auth/login",
        json={"email": get_settings().admin_email, "password": DEV_ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    me = (await client.get("/api/auth/me", headers=bearer(response.json()["token"]))).json()
    assert me["role"] == "admin"
    assert me["email"] == "admin@flightbook.local"


async def test_seed_does_not_promote_an_existing_user(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await signup(client)
    monkeypatch.setattr(
        seed_module, "get_settings", lambda: AuthSettings(admin_email=user["email"])
    )
    await seed_module.seed()
    me = (await client.get("/api/auth/me", headers=bearer(user["token"]))).json()
    assert me["role"] == "user"
