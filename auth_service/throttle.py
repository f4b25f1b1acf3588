"""Login throttling: failed attempts per email and per client address, in Redis.

An attempt is counted *before* the password is checked, so a burst of parallel guesses cannot
all slip past the limit while the first ones are still hashing. A successful login then takes
its attempt back: it resets the email's window and uncounts itself from the address's (an
attacker's own valid account must not reset the address window).
"""

import hashlib
import logging

from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable, TooManyRequests
from shared.ratelimit import RateLimiter, address_bucket
from shared.redis import Keys, RedisClient

log = logging.getLogger("auth_service.throttle")


class LoginThrottled(TooManyRequests):
    code, title = "LOGIN_THROTTLED", "Too many failed logins"


class LoginThrottle:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        *,
        max_per_email: int,
        max_per_address: int,
        window_seconds: int,
    ) -> None:
        self.limiter = RateLimiter(redis)
        self.keys = keys
        self.max_per_email = max_per_email
        self.max_per_address = max_per_address
        self.window = window_seconds

    def _email_key(self, email: str) -> str:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]  # no addresses in Redis
        return self.keys.key("auth", "login", "email", digest)

    def _address_key(self, address: str) -> str:
        return self.keys.key("auth", "login", "addr", address_bucket(address))

    async def attempt(self, *, email: str, address: str) -> None:
        """Count an attempt; `LoginThrottled` when either window is over its limit."""
        try:
            by_email = await self.limiter.hit(self._email_key(email), window_seconds=self.window)
            by_addr = await self.limiter.hit(self._address_key(address), window_seconds=self.window)
        except RedisError as exc:  # fail closed: no throttle, no login
            raise ServiceUnavailable("Login is temporarily unavailable") from exc
        waits = [
            window.retry_after
            for window, limit in ((by_email, self.max_per_email), (by_addr, self.max_per_address))
            if window.count > limit
        ]
        if waits:
            raise LoginThrottled(
                "Too many failed login attempts; try again later", retry_after=max(waits)
            )

    async def succeeded(self, *, email: str, address: str) -> None:
        try:
            await self.limiter.reset(self._email_key(email))
            await self.limiter.uncount(self._address_key(address))
        except RedisError:  # the login itself succeeded; the windows expire on their own
            log.warning("could not reset the login throttle after a successful login")
