"""Sign-up throttling: accounts created per client address, in a fixed window in Redis.

Every sign-up attempt is counted first, before anything costly happens (the password check,
the argon2 hash, the database), so a refused one costs one Redis round trip: sign-up cannot be
used to make accounts by the thousand nor to burn the service's CPU. IPv6 clients are counted
per /64, the block one subscriber usually gets (counting per address would give them 2^64
windows).
"""

import ipaddress

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable, TooManyRequests
from shared.ratelimit import RateLimiter
from shared.redis import Keys


class SignupRateLimited(TooManyRequests):
    code, title = "SIGNUP_RATE_LIMITED", "Too many sign-ups from this address"


def address_bucket(address: str) -> str:
    """The unit counted: an IPv4 address, or an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class SignupThrottle:
    def __init__(
        self, redis: Redis, keys: Keys, *, max_per_address: int, window_seconds: int
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
        try:
            window = await self.limiter.hit(self.key(address), window_seconds=self.window)
        except RedisError as exc:  # fail closed, as the login throttle does
            raise ServiceUnavailable("Sign-up is temporarily unavailable") from exc
        if window.count > self.max_per_address:
            raise SignupRateLimited(
                "Too many accounts created from this address; try again later",
                retry_after=window.retry_after,
                limit=self.max_per_address,
            )
