"""Fixed-window counters in Redis: the gateway's rate limit, and the throttles of login,
sign-up, notifications and discount guesses; and the unit a client address is counted by."""

import asyncio
import ipaddress
import math
from dataclasses import dataclass

from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable, TooManyRequests
from shared.redis import RedisClient

# INCR the window's counter, start its expiry on the first hit, and return count and TTL in
# one round trip, atomically.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""

# Take one back without ever creating the key (a plain DECR would make one without a TTL).
_UNCOUNT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def address_bucket(address: str) -> str:
    """The unit a per-address limit counts: an IPv4 address, or an IPv6 address's /64 (the
    block one subscriber usually gets: counting per address would give them 2^64 windows)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Window:
    count: int
    retry_after: int  # seconds until the window resets


class RateLimiter:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._hit = redis.register_script(_HIT)
        self._uncount = redis.register_script(_UNCOUNT)

    async def enforce(
        self,
        key: str,
        *,
        limit: int,
        window_seconds: int,
        refusal: type[TooManyRequests],
        detail: str,
        unavailable: str,
    ) -> Window:
        """Count one event and refuse it (`refusal`, 429 with Retry-After) past `limit` in the
        window. Fails closed: Redis unreachable is a 503 (`unavailable`), since what a limit
        guards (hashing, SMS, guesses) must not run unmetered."""
        try:
            window = await self.hit(key, window_seconds=window_seconds)
        except RedisError as exc:
            raise ServiceUnavailable(unavailable) from exc
        if window.count > limit:
            raise refusal(detail, retry_after=window.retry_after, limit=limit)
        return window

    async def uncount(self, key: str) -> None:
        """Take one event back (it turned out not to count); never below zero."""
        await self._uncount(keys=[key])

    async def hit(self, key: str, *, window_seconds: int) -> Window:
        """Count one event in the key's current window."""
        count, ttl_ms = await self._hit(keys=[key], args=[window_seconds * 1000])
        return Window(int(count), -(-int(ttl_ms) // 1000))

    async def peek(self, key: str) -> Window:
        """The current count without counting."""
        async with self.redis.pipeline(transaction=False) as pipe:
            # redis-py types a pipeline's commands as awaitables; they return the pipeline.
            count, ttl_ms = await pipe.get(key).pttl(key).execute()  # type: ignore[attr-defined]
        return Window(int(count or 0), max(0, -(-int(ttl_ms) // 1000)))

    async def reset(self, key: str) -> None:
        await self.redis.delete(key)


# Take up to ARGV[3] of the window's remaining ARGV[2] requests for this process; the window
# (ARGV[1] ms) starts with the first grant. Returns {granted, count after, ms left}.
_LEASE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
local grant = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) - n)
if grant <= 0 then
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
  return {0, n, ttl}
end
n = redis.call('INCRBY', KEYS[1], grant)
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {grant, n, ttl}
"""


@dataclass
class _Lease:
    left: int  # requests this process may still admit without asking Redis
    count: int  # the window's count in Redis when last asked
    ends_at: float  # loop time the window ends


class LeasedLimiter:
    """A fixed-window limit shared by every replica, without a Redis call per request.

    Each process leases a slice of a window's budget from Redis and spends it locally; it asks
    again when the slice is used up. Leased requests are counted in Redis up front, so all
    replicas together never admit more than the limit; the slice shrinks as the window fills
    (1 near the limit: exact there), so a replica holds back at most `max_lease` requests that
    another could have used. An exhausted window is remembered until it ends: a flood of
    refused requests costs no Redis call either.
    """

    def __init__(
        self, redis: RedisClient, *, max_lease: int = 100, max_keys: int = 100_000
    ) -> None:
        self._lease = redis.register_script(_LEASE)
        self.max_lease = max_lease
        self.max_keys = max_keys
        self._leases: dict[str, _Lease] = {}
        self._asking: dict[str, asyncio.Future[None]] = {}

    def _lease_size(self, limit: int, count: int) -> int:
        return max(1, min(self.max_lease, (limit - count) // 16))

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> Window | None:
        """Admit one request (None), or the window that refuses it."""
        while True:
            now = asyncio.get_running_loop().time()
            lease = self._leases.get(key)
            if lease is not None and lease.ends_at > now:
                if lease.left > 0:
                    lease.left -= 1
                    return None
                if lease.count >= limit:
                    return Window(lease.count + 1, max(1, math.ceil(lease.ends_at - now)))
            # One request asks Redis for the next slice; the others wait for it (a burst that
            # used up a slice must not send a burst of round trips).
            asking = self._asking.get(key)
            if asking is None:
                break
            await asyncio.shield(asking)
        known = lease.count if lease is not None and lease.ends_at > now else 0
        asking = self._asking[key] = asyncio.get_running_loop().create_future()
        try:
            granted, count, ttl_ms = await self._lease(
                keys=[key], args=[window_seconds * 1000, limit, self._lease_size(limit, known)]
            )
        finally:
            del self._asking[key]
            asking.set_result(None)
        granted, count, ttl = int(granted), int(count), int(ttl_ms) / 1000
        if len(self._leases) >= self.max_keys:
            self._forget_ended(now)
        self._leases[key] = _Lease(max(0, granted - 1), count, now + ttl)
        return Window(count + 1, max(1, math.ceil(ttl))) if granted == 0 else None

    def _forget_ended(self, now: float) -> None:
        for key in [k for k, lease in self._leases.items() if lease.ends_at <= now]:
            del self._leases[key]
