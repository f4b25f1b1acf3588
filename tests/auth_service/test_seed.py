"""The seed step creates the administrator once, and never promotes someone else's account.
Without ADMIN_PASSWORD it generates one (printed once, kept in a file), and replaces the
published development password of an admin seeded before."""

import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from auth_service import passwords
from auth_service import seed as seed_module
from auth_service.config import PUBLISHED_ADMIN_PASSWORDS, AuthSettings, get_settings
from auth_service.models import User
from shared.db import Database
from tests.auth_service.conftest import signup
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import bearer


async def test_seed_creates_the_admin_idempotently(client: httpx.AsyncClient) -> None:
    await seed_module.seed()
    await seed_module.seed()
    response = await client.post(
        "/api/auth/login",
        json={"email": get_settings().admin_email, "password": ADMIN_PASSWORD},
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


def test_without_admin_password_one_is_generated_once_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "var" / "admin_password"
    settings = AuthSettings(
        environment="development", admin_password=None, admin_password_file=path
    )
    first = seed_module.admin_password(settings)
    assert first in capsys.readouterr().out  # printed once, when generated
    assert seed_module.admin_password(settings) == first
    assert first not in capsys.readouterr().out
    assert len(first) >= 20 and first not in PUBLISHED_ADMIN_PASSWORDS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    production = AuthSettings(
        environment="production", admin_password=None, admin_password_file=tmp_path / "none"
    )
    with pytest.raises(RuntimeError, match="ADMIN_PASSWORD"):
        seed_module.admin_password(production)


async def test_an_admin_with_the_published_password_gets_this_runs_password(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (published,) = PUBLISHED_ADMIN_PASSWORDS
    email = "old-admin@flightbook.local"
    settings = AuthSettings(
        environment="development",
        admin_email=email,
        admin_password=None,
        admin_password_file=tmp_path / "pw",
    )
    monkeypatch.setattr(seed_module, "get_settings", lambda: settings)
    await seed_module.seed()
    # As a database seeded by an earlier version would have it:
    db = Database(settings.database_url, pool_size=1, max_overflow=0)
    async with db.sessionmaker() as session:
        await session.execute(
            update(User)
            .where(User.email == email)
            .values(password_hash=await passwords.hash_password(published))
        )
        await session.commit()
    await db.dispose()
    (tmp_path / "pw").unlink()  # an installation from before: no password file either
    await seed_module.seed()
    login = {"email": email, "password": published}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401
    login["password"] = (tmp_path / "pw").read_text()
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
