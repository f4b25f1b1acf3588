"""shared.ratelimit: fixed windows in the real Redis."""

import asyncio
import uuid

from redis.asyncio import Redis

from shared.ratelimit import LeasedLimiter, RateLimiter
from shared.redis import Keys


def fresh_key(keys: Keys) -> str:
    return keys.key("rl-test", uuid.uuid4().hex)


async def test_hits_count_up_within_the_window(redis: Redis, keys: Keys) -> None:
    limiter = RateLimiter(redis)
    key = fresh_key(keys)
    windows = [await limiter.hit(key, window_seconds=60) for _ in range(5)]
    assert [w.count for w in windows] == [1, 2, 3, 4, 5]
    assert all(55 <= w.retry_after <= 60 for w in windows)
    assert 59_000 <= await redis.pttl(key) <= 60_000
    # Another key has its own count.
    assert (await limiter.hit(fresh_key(keys), window_seconds=60)).count == 1


async def test_window_expires_and_counting_starts_again(redis: Redis, keys: Keys) -> None:
    limiter = RateLimiter(redis)
    key = fresh_key(keys)
    assert (await limiter.hit(key, window_seconds=1)).count == 1
    second = await limiter.hit(key, window_seconds=1)
    assert second.count == 2
    assert second.retry_after == 1  # never 0 while the window is open
    await asyncio.sleep(1.1)
    assert (await limiter.peek(key)).count == 0
    assert (await limiter.hit(key, window_seconds=1)).count == 1


async def test_peek_does_not_count_and_reset_clears(redis: Redis, keys: Keys) -> None:
    limiter = RateLimiter(redis)
    key = fresh_key(keys)
    assert await limiter.peek(key) == (await limiter.peek(key))
    assert (await limiter.peek(key)).count == 0
    assert (await limiter.peek(key)).retry_after == 0
    for _ in range(3):
        await limiter.hit(key, window_seconds=30)
    peeked = await limiter.peek(key)
    assert peeked.count == 3
    assert 25 <= peeked.retry_after <= 30
    assert (await limiter.peek(key)).count == 3
    await limiter.reset(key)
    assert (await limiter.peek(key)).count == 0
    assert (await limiter.hit(key, window_seconds=30)).count == 1


async def test_a_counter_without_expiry_gets_one(redis: Redis, keys: Keys) -> None:
    """A key left without a TTL (e.g. written by hand) must not throttle forever."""
    limiter = RateLimiter(redis)
    key = fresh_key(keys)
    await redis.set(key, 10)
    window = await limiter.hit(key, window_seconds=5)
    assert window.count == 11
    assert 1 <= window.retry_after <= 5
    assert 0 < await redis.pttl(key) <= 5000


async def test_concurrent_hits_are_counted_exactly(redis: Redis, keys: Keys) -> None:
    limiter = RateLimiter(redis)
    key = fresh_key(keys)
    windows = await asyncio.gather(*(limiter.hit(key, window_seconds=10) for _ in range(50)))
    assert sorted(w.count for w in windows) == list(range(1, 51))


# LeasedLimiter: the gateway's shared limit, leased in slices --------------------------------


async def test_replicas_together_admit_exactly_the_limit(redis: Redis, keys: Keys) -> None:
    key = fresh_key(keys)
    replicas = [LeasedLimiter(redis), LeasedLimiter(redis), LeasedLimiter(redis)]

    async def spend(limiter: LeasedLimiter) -> int:
        admitted = 0
        while await limiter.hit(key, limit=500, window_seconds=60) is None:
            admitted += 1
            await asyncio.sleep(0)  # interleave the replicas
        return admitted

    admitted = await asyncio.gather(*(spend(r) for r in replicas))
    assert sum(admitted) == 500
    assert all(n > 0 for n in admitted), admitted
    assert await redis.get(key) == "500"


async def test_a_lease_is_spent_without_asking_redis(redis: Redis, keys: Keys) -> None:
    key = fresh_key(keys)
    limiter = LeasedLimiter(redis, max_lease=20)
    assert await limiter.hit(key, limit=10_000, window_seconds=60) is None
    assert await redis.get(key) == "20"  # one round trip took a slice of 20
    await redis.delete(key)  # were it asked again, Redis would start a new count
    for _ in range(19):
        assert await limiter.hit(key, limit=10_000, window_seconds=60) is None
    assert await redis.get(key) is None
    assert await limiter.hit(key, limit=10_000, window_seconds=60) is None
    assert await redis.get(key) == "20"


async def test_near_the_limit_the_slices_shrink_to_one(redis: Redis, keys: Keys) -> None:
    key = fresh_key(keys)
    a, b = LeasedLimiter(redis), LeasedLimiter(redis)
    assert await a.hit(key, limit=3, window_seconds=60) is None
    assert await redis.get(key) == "1"
    assert await b.hit(key, limit=3, window_seconds=60) is None
    assert await a.hit(key, limit=3, window_seconds=60) is None
    refused = await b.hit(key, limit=3, window_seconds=60)
    assert refused is not None and 55 <= refused.retry_after <= 60
    assert await redis.get(key) == "3"


async def test_an_exhausted_window_is_refused_locally_until_it_ends(
    redis: Redis, keys: Keys
) -> None:
    key = fresh_key(keys)
    limiter = LeasedLimiter(redis)
    assert await limiter.hit(key, limit=1, window_seconds=1) is None
    assert await limiter.hit(key, limit=1, window_seconds=1) is not None
    await redis.delete(key)
    assert await limiter.hit(key, limit=1, window_seconds=1) is not None  # no Redis call
    await asyncio.sleep(1.1)
    assert await limiter.hit(key, limit=1, window_seconds=1) is None
