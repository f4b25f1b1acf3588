"""Code probing: failed code look-ups per user in a fixed window, in Redis.

A code that does not exist (DISCOUNT_NOT_FOUND) or is not valid now (DISCOUNT_EXPIRED) is a
failed guess. Past DISCOUNT_FAILED_ATTEMPT_LIMIT of them in DISCOUNT_FAILED_ATTEMPT_WINDOW_SECONDS
every apply and validate of that user is refused with 429, a valid code too, until the window
ends: a 429 tells nothing about the code, so codes cannot be enumerated one by one.

Each attempt is counted before the code is looked up (so a burst of parallel guesses cannot slip
past the limit while the first are still being answered) and takes itself back unless it turns
out a failed guess. So while more than the limit of one user's attempts are in flight at once,
the extra ones are refused, valid or not (the safe side; no person applies codes in parallel).
Administrators, who can list every code, are not counted.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from discount_service.errors import DiscountExpired, DiscountNotFound
from shared.errors import TooManyRequests
from shared.ratelimit import RateLimiter
from shared.redis import Keys, RedisClient
from shared.security import Principal

log = logging.getLogger("discount.guesses")

FAILED_GUESSES = (DiscountNotFound, DiscountExpired)


class DiscountAttemptsThrottled(TooManyRequests):
    code, title = "DISCOUNT_ATTEMPTS_THROTTLED", "Too many failed discount codes"


class CodeGuesses:
    def __init__(self, redis: RedisClient, keys: Keys, *, limit: int, window_seconds: int) -> None:
        self.limiter = RateLimiter(redis)
        self.keys = keys
        self.limit = limit  # 0: no limit
        self.window = window_seconds

    def key(self, user_id: int) -> str:
        return self.keys.key("discount", "guesses", user_id)

    @asynccontextmanager
    async def attempt(self, user: Principal) -> AsyncIterator[None]:
        """Around one look-up of a code by `user`: 429 when the user's failed guesses are over
        the limit; a failed guess (NOT_FOUND, EXPIRED) raised inside counts."""
        if self.limit <= 0 or user.is_admin:
            yield
            return
        key = self.key(user.user_id)
        await self.limiter.enforce(
            key,
            limit=self.limit,
            window_seconds=self.window,
            refusal=DiscountAttemptsThrottled,
            detail="Too many invalid discount codes; try again later",
            # Fail closed: unthrottled, codes could be enumerated.
            unavailable="Discount codes are unavailable right now",
        )
        failed = False
        try:
            yield
        except FAILED_GUESSES:
            failed = True
            raise
        finally:
            if not failed:
                await self._take_back(key)

    async def _take_back(self, key: str) -> None:
        try:
            await self.limiter.uncount(key)
        except RedisError:  # the attempt counts until the window ends: the safe side
            log.warning("could not uncount a discount attempt")
