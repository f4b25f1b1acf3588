"""Per-user and per-address rate limits: fixed windows counted in Redis.

Every proxied request counts against its client address; an authenticated one also against
its user (the token's subject), so one user cannot spread load over many addresses, and one
address cannot hide behind many tokens. Replicas share the windows through Redis, leasing
slices of them (`LeasedLimiter`) rather than paying a Redis round trip per request. If Redis is
unreachable the gateway lets traffic through (and logs it): rate limiting protects the
services, it must not take them down.
"""

import logging

from redis.exceptions import RedisError

from shared.errors import TooManyRequests
from shared.ratelimit import LeasedLimiter, address_bucket
from shared.redis import Keys

log = logging.getLogger("api_gateway.ratelimit")


class GatewayRateLimits:
    def __init__(
        self,
        *,
        limiter: LeasedLimiter,
        keys: Keys,
        per_user: int,
        per_address: int,
        window_seconds: int,
    ) -> None:
        self.limiter = limiter
        self.keys = keys
        self.per_user = per_user
        self.per_address = per_address
        self.window = window_seconds

    def user_key(self, user_id: int | str) -> str:
        return self.keys.key("gateway", "ratelimit", "user", user_id)

    def address_key(self, address: str) -> str:
        return self.keys.key("gateway", "ratelimit", "address", address_bucket(address))

    async def check_address(self, address: str) -> None:
        """Count one request from `address`; `TooManyRequests` once over the limit."""
        await self._check(self.address_key(address), self.per_address, "address")

    async def check_user(self, user_id: int | str) -> None:
        """Count one request by `user_id`; `TooManyRequests` once over the limit."""
        await self._check(self.user_key(user_id), self.per_user, "user")

    async def _check(self, key: str, limit: int, scope: str) -> None:
        if limit <= 0:  # 0 disables this limit
            return
        try:
            window = await self.limiter.hit(key, limit=limit, window_seconds=self.window)
        except RedisError as exc:
            log.warning("rate limit not checked (Redis: %s)", type(exc).__name__)
            return
        if window is not None:
            raise TooManyRequests(
                f"Too many requests for this {scope}: at most {limit} per {self.window} s",
                retry_after=window.retry_after,
                limit=limit,
                windowSeconds=self.window,
            )
