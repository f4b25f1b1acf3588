"""Sign-up throttling: accounts created per client address, in a fixed window in Redis.

Every sign-up attempt is counted first, before anything costly happens (the password check,
the argon2 hash, the database), so a refused one costs one Redis round trip: sign-up cannot be
used to make accounts by the thousand nor to burn the service's CPU. IPv6 clients are counted
per /64, the block one subscriber usually gets (counting per address would give them 2^64
windows; `shared.ratelimit.address_bucket`).
"""

from shared.errors import TooManyRequests
from shared.ratelimit import RateLimiter, address_bucket
from shared.redis import Keys, RedisClient


class SignupRateLimited(TooManyRequests):
    code, title = "SIGNUP_RATE_LIMITED", "Too many sign-ups from this address"


class SignupThrottle:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, max_per_address: int, window_seconds: int
    ) -> None:
        self.limiter = RateLimiter(redis)
        self.keys = keys
        self.max_per_address = max_per_address  # 0: no limit
        self.window = window_seconds

    def key(self, address: str) -> str:
        return self.keys.key("auth", "signup", "addr", address_bucket(address))

    async def attempt(self, *, address: str) -> None:
        """Count a sign-up attempt; `SignupRateLimited` (429) past the address's limit."""
        if self.max_per_address <= 0:
            return
        await self.limiter.enforce(
            self.key(address),
            limit=self.max_per_address,
            window_seconds=self.window,
            refusal=SignupRateLimited,
            detail="Too many accounts created from this address; try again later",
            unavailable="Sign-up is temporarily unavailable",
        )
