"""The auth service's seed: the administrator from ADMIN_EMAIL / ADMIN_PASSWORD / ADMIN_NAME.

Without ADMIN_PASSWORD the password is read from ADMIN_PASSWORD_FILE, which is generated (and
printed, once) on the first run outside production: no password from the repository is ever
an account's.

Idempotent: an existing account with that email is left as it is (its password is not reset,
and a non-admin account is not promoted: someone else may have registered the address).
"""

import secrets

from sqlalchemy import select, update

from auth_service import passwords, service
from auth_service.config import (
    PUBLISHED_ADMIN_PASSWORDS,
    AuthSettings,
    check_admin_password,
    get_settings,
)
from auth_service.models import User
from shared.db import Database
from shared.keyfiles import read_or_create


def admin_password(settings: AuthSettings) -> str:
    """ADMIN_PASSWORD, or the password file's, generated outside production if missing."""
    return _admin_password(settings)[0]


def _admin_password(settings: AuthSettings) -> tuple[str, bool]:
    """The password, and whether it was generated just now."""
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value(), False
    path = settings.admin_password_file
    if settings.environment == "production" and not path.exists():
        raise RuntimeError(f"Set ADMIN_PASSWORD or ADMIN_PASSWORD_FILE ({path} does not exist)")
    content, created = read_or_create(path, lambda: secrets.token_urlsafe(18).encode())
    password = content.decode().strip()
    check_admin_password(password, environment=settings.environment)
    if created:
        print(f"  generated the admin password (kept in {path}): {password}")
    return password, created


async def seed() -> None:
    settings = get_settings()
    password, generated = _admin_password(settings)
    db = Database(settings.database_url, pool_size=1, max_overflow=0, application_name="auth-seed")
    try:
        async with db.sessionmaker() as session:
            created = await service.ensure_admin(
                session=session,
                email=settings.admin_email,
                name=settings.admin_name,
                password=password,
            )
            if created:
                print(f"  created admin user {settings.admin_email}")
                return
            async with session.begin():
                admin = (
                    await session.execute(
                        select(User.id, User.role, User.password_hash).where(
                            User.email == service.normalise_email(settings.admin_email)
                        )
                    )
                ).one()
            if admin.role != "admin":
                print(f"  warning: {settings.admin_email} exists but is not an admin; left as is")
            elif await _has_published_password(admin.password_hash, settings):
                # A database seeded before passwords were generated: its admin still has the
                # published one. Replace it with this run's.
                new_hash = await passwords.hash_password(password)
                async with session.begin():
                    await session.execute(
                        update(User).where(User.id == admin.id).values(password_hash=new_hash)
                    )
                print(f"  replaced the published development password of {settings.admin_email}")
            elif generated:
                # The password file was lost, the database kept: the account keeps its own.
                print(
                    f"  warning: {settings.admin_email} already exists with another password;"
                    " the one just generated is not its password"
                )
    finally:
        await db.dispose()


async def _has_published_password(password_hash: str, settings: AuthSettings) -> bool:
    if settings.environment == "test":
        return False
    for published in PUBLISHED_ADMIN_PASSWORDS:
        matches, _ = await passwords.verify_password(published, password_hash)
        if matches:
            return True
    return False
