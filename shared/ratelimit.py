"""Fixed-window counters in Redis: the gateway's rate limit and the auth login throttle."""

from dataclasses import dataclass

from redis.asyncio import Redis

# INCR the window's counter, start its expiry on the first hit, and return count and TTL in
# one round trip, atomically.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


@dataclass(frozen=True)
class Window:
    count: int
    retry_after: int  # seconds until the window resets


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._hit = redis.register_script(_HIT)

    async def hit(self, key: str, *, window_seconds: int) -> Window:
        """Count one event in the key's current window."""
        count, ttl_ms = await self._hit(keys=[key], args=[window_seconds * 1000])
        return Window(int(count), -(-int(ttl_ms) // 1000))

    async def peek(self, key: str) -> Window:
        """The current count without counting."""
        async with self.redis.pipeline(transaction=False) as pipe:
            count, ttl_ms = await pipe.get(key).pttl(key).execute()
        return Window(int(count or 0), max(0, -(-int(ttl_ms) // 1000)))

    async def reset(self, key: str) -> None:
        await self.redis.delete(key)
