"""The gateway's rate-limit policy over the shared fixed-window counter."""

import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api_gateway.ratelimit import GatewayRateLimits
from shared.errors import TooManyRequests
from shared.ratelimit import LeasedLimiter, Window
from shared.redis import Keys, create_redis
from tests.conftest import REDIS_PREFIX, REDIS_URL


def limits(limiter: object, *, per_user: int = 2, per_address: int = 3) -> GatewayRateLimits:
    return GatewayRateLimits(
        limiter=limiter,  # type: ignore[arg-type]
        keys=Keys(f"{REDIS_PREFIX}rl-{uuid.uuid4().hex[:8]}:"),
        per_user=per_user,
        per_address=per_address,
        window_seconds=30,
    )


async def test_counts_per_key_in_redis_and_answers_429_with_retry_after() -> None:
    redis = create_redis(REDIS_URL)
    try:
        policy = limits(LeasedLimiter(redis))
        await policy.check_user(7)
        await policy.check_user(7)
        with pytest.raises(TooManyRequests) as caught:
            await policy.check_user(7)
        assert 1 <= int(caught.value.headers["Retry-After"]) <= 30
        assert caught.value.extra == {"limit": 2, "windowSeconds": 30}
        await policy.check_user(8)  # another user: its own window
        for _ in range(3):
            await policy.check_address("192.0.2.1")
        with pytest.raises(TooManyRequests):
            await policy.check_address("192.0.2.1")
        assert policy.user_key(7).startswith(policy.keys.prefix)
        # Small limits are leased one request at a time: the count is exact.
        assert await redis.get(policy.user_key(7)) == "2"
    finally:
        await redis.aclose()


async def test_zero_disables_a_limit() -> None:
    class Never:
        async def hit(self, key: str, *, limit: int, window_seconds: int) -> Window | None:
            raise AssertionError("must not count")

    policy = limits(Never(), per_user=0, per_address=0)
    await policy.check_user(1)
    await policy.check_address("192.0.2.1")


async def test_redis_down_lets_traffic_through() -> None:
    class Down:
        async def hit(self, key: str, *, limit: int, window_seconds: int) -> Window | None:
            raise RedisConnectionError("down")

    policy = limits(Down())
    for _ in range(5):
        await policy.check_user(1)
        await policy.check_address("192.0.2.1")
