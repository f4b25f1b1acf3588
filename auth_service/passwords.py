"""Password hashing: argon2id (OWASP minimum parameters), legacy bcrypt verified and upgraded.

Hashing is deliberately slow, so it always runs in a worker thread, off the event loop.
"""

import logging
import secrets
from functools import lru_cache

from anyio import to_thread
from passlib.context import CryptContext
from passlib.exc import UnknownHashError

log = logging.getLogger("auth_service.passwords")

ARGON2_MEMORY_KIB = 19456  # 19 MiB
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated=["bcrypt"],
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_KIB,
    argon2__time_cost=ARGON2_TIME_COST,
    argon2__parallelism=ARGON2_PARALLELISM,
)


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(context.hash, password)


def _verify_and_update(password: str, hashed: str) -> tuple[bool, str | None]:
    try:
        result: tuple[bool, str | None] = context.verify_and_update(password, hashed)
        return result
    except UnknownHashError:
        log.warning("a stored password hash has an unknown format")
        return False, None
    except ValueError:  # e.g. bcrypt refuses passwords over 72 bytes
        return False, None


async def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one is outdated and must be replaced)."""
    return await to_thread.run_sync(_verify_and_update, password, hashed)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    hashed: str = context.hash(secrets.token_urlsafe(16))
    return hashed


def _verify_dummy(password: str) -> None:
    context.verify(password, _dummy_hash())


async def verify_dummy(password: str) -> None:
    """Spend the time a real verification takes (for an unknown user), then fail."""
    await to_thread.run_sync(_verify_dummy, password)


async def warm_up() -> None:
    """Compute the dummy hash at start-up, so the first unknown-email login is not slower."""
    await to_thread.run_sync(_dummy_hash)
