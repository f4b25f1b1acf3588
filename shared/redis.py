"""Redis client factory and key naming (every key carries the deployment's prefix)."""

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(url, decode_responses=True, health_check_interval=30)


class Keys:
    """Builds namespaced keys: `Keys("fb:").key("seat", "{flight:42}", "12A")`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)
