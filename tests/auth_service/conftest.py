"""Fixtures for the auth service's tests: one app for the session, helpers to make users."""

import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from auth_service.main import app
from tests.conftest import app_client
from tests.helpers import unique_email

PASSWORD = "correct horse battery"


def unique_address() -> str:
    """A fresh client address (IPv6 documentation range), so throttle windows never collide."""
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | (uuid.uuid4().int >> 32)))


@pytest.fixture(scope="session")
async def auth_app_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in app_client(app):
        yield client


@pytest.fixture
async def client(auth_app_client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The session's client, with this test's own client address (as the gateway sets it)."""
    auth_app_client.headers["X-Forwarded-For"] = unique_address()
    yield auth_app_client


async def signup(
    client: httpx.AsyncClient,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "Test User",
) -> dict[str, Any]:
    """Sign up a new user; the response body plus the email and password used."""
    email = email or unique_email()
    response = await client.post(
        "/api/auth/signup", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "email": email, "password": password}
