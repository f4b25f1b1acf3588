"""`Idempotency-Key` for POST /api/payments/pay: per user, kept 24 hours.

The first request with a key claims it (a row `in_progress`), runs, and stores its response.
The same key with the same request replays that response; with another request: 422
`IDEMPOTENCY_KEY_REUSED`; while the first is still running: 409 `IDEMPOTENCY_IN_PROGRESS`.
Responses a retry could change (5xx, a payment of the booking in progress) are not stored:
the key is released so the client may retry with it. A claim older than the lock time (its
request died) may be taken over; the booking-level guard still allows one charge only.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from payment_service.models import DONE, IN_PROGRESS, IdempotencyKey
from shared import clock
from shared.db import autocommit
from shared.errors import DomainError, problem_body
from shared.logging import request_id_var

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
NOT_STORED = {"PAYMENT_IN_PROGRESS", "IDEMPOTENCY_IN_PROGRESS"}


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise IdempotencyKeyInvalid("Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def request_hash(secret: bytes, request: dict[str, Any]) -> str:
    """A keyed hash of the request (it may hold a card number: never stored in the clear)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: int,
    key: str,
    digest: str,
    ttl: timedelta,
    lock: timedelta,
) -> Response | None:
    """None if this request now owns the key; else the stored response to replay."""
    for _ in range(3):
        # Every statement here stands alone (guarded by its own WHERE): each commits by itself.
        async with sessionmaker() as session, autocommit(session):
            now = clock.utcnow()
            if await _insert(session, user_id=user_id, key=key, digest=digest, now=now, ttl=ttl):
                return None
            row = (
                await session.scalars(
                    select(IdempotencyKey).where(
                        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
                    )
                )
            ).one_or_none()
            if row is None:
                continue
            if row.expires_at <= now:
                await session.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.user_id == user_id,
                        IdempotencyKey.key == key,
                        IdempotencyKey.expires_at <= now,
                    )
                )
                continue
            if not hmac.compare_digest(row.request_hash, digest):
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used with a different request; use a new key"
                )
            if row.status == DONE and row.response_status is not None:
                return Response(row.response_status, row.response_body or {}, replayed=True)
            if await _take_over(session, user_id=user_id, key=key, now=now, lock=lock):
                return None
            raise IdempotencyInProgress(
                "A request with this Idempotency-Key is still in progress; retry shortly",
                headers={"Retry-After": "1"},
            )
    raise IdempotencyInProgress(
        "Idempotency-Key is busy; retry shortly", headers={"Retry-After": "1"}
    )


_KEYS = cast(Table, IdempotencyKey.__table__)
_CLAIM = pg_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key)
_STORE = (
    update(_KEYS)
    .where(_KEYS.c.user_id == bindparam("owner"), _KEYS.c.key == bindparam("the_key"))
    .values(
        status=DONE,
        response_status=bindparam("r_status", type_=_KEYS.c.response_status.type),
        response_body=bindparam("r_body", type_=_KEYS.c.response_body.type),
    )
)


async def _insert(
    session: AsyncSession, *, user_id: int, key: str, digest: str, now: datetime, ttl: timedelta
) -> bool:
    """Claim a key nobody holds."""
    values = {
        "user_id": user_id,
        "key": key,
        "request_hash": digest,
        "status": IN_PROGRESS,
        "locked_at": now,
        "created_at": now,
        "expires_at": now + ttl,
    }
    return (await session.execute(_CLAIM, values)).first() is not None


async def _take_over(
    session: AsyncSession, *, user_id: int, key: str, now: datetime, lock: timedelta
) -> bool:
    """Claim a key whose request has held it longer than the lock time (it died)."""
    taken = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.status == IN_PROGRESS,
            IdempotencyKey.locked_at <= now - lock,
        )
        .values(locked_at=now)
        .returning(IdempotencyKey.key)
    )
    return taken.first() is not None


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: int,
    key: str,
    response: Response,
) -> None:
    params = {"owner": user_id, "the_key": key, "r_status": response.status}
    async with sessionmaker() as session, autocommit(session):
        await session.execute(_STORE, {**params, "r_body": response.body})


async def _release(
    sessionmaker: async_sessionmaker[AsyncSession], *, user_id: int, key: str
) -> None:
    async with sessionmaker() as session, autocommit(session):
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.status == IN_PROGRESS,
            )
        )


async def run_once(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    user_id: int,
    key: str,
    digest: str,
    instance: str,
    ttl: timedelta,
    lock: timedelta,
    execute: Callable[[], Awaitable[Response]],
) -> Response:
    """Run `execute` at most once per (user, key); replay its stored response afterwards.

    A domain error from `execute` is stored as its problem document and raised again.
    """
    stored = await _claim(sessionmaker, user_id=user_id, key=key, digest=digest, ttl=ttl, lock=lock)
    if stored is not None:
        return stored
    try:
        response = await execute()
    except DomainError as exc:
        if exc.status >= 500 or exc.code in NOT_STORED:
            await _release(sessionmaker, user_id=user_id, key=key)
        else:
            body = problem_body(
                status=exc.status,
                code=exc.code,
                title=exc.title,
                detail=exc.detail,
                instance=instance,
                request_id=request_id_var.get(),
                **exc.extra,
            )
            await _store(
                sessionmaker, user_id=user_id, key=key, response=Response(exc.status, body)
            )
        raise
    except Exception:
        await _release(sessionmaker, user_id=user_id, key=key)
        raise
    await _store(sessionmaker, user_id=user_id, key=key, response=response)
    return response
