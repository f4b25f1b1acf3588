"""The auth service's seed: the administrator from ADMIN_EMAIL / ADMIN_PASSWORD / ADMIN_NAME.

Idempotent: an existing account with that email is left as it is (its password is not reset,
and a non-admin account is not promoted: someone else may have registered the address).
"""

from sqlalchemy import select

from auth_service import service
from auth_service.config import get_settings
from auth_service.models import User
from shared.db import Database


async def seed() -> None:
    settings = get_settings()
    db = Database(settings.database_url, pool_size=1, max_overflow=0, application_name="auth-seed")
    try:
        async with db.sessionmaker() as session:
            created = await service.ensure_admin(
                session=session,
                email=settings.admin_email,
                name=settings.admin_name,
                password=settings.admin_password.get_secret_value(),
            )
            if created:
                print(f"  created admin user {settings.admin_email}")
                return
            role = await session.scalar(
                select(User.role).where(User.email == service.normalise_email(settings.admin_email))
            )
            if role != "admin":
                print(f"  warning: {settings.admin_email} exists but is not an admin; left as is")
    finally:
        await db.dispose()
