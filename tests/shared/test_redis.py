"""shared.redis: one Redis or a Redis Cluster, and the hash tags that keep every multi-key
script, transaction and command in one slot (a cluster refuses them across slots).

The slot checks run everywhere; `make test-cluster` (`pytest --redis-cluster`) runs this
module, with the seat, search-cache and event tests, against a real three-master cluster.
"""

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from flight_search_service.cache import SearchCache
from shared.events import dead_letter_stream, stream_for
from shared.redis import Keys, RedisClient, cluster_addresses, create_redis

CLUSTER = bool(os.environ.get("REDIS_CLUSTER_NODES"))
cluster_only = pytest.mark.skipif(not CLUSTER, reason="runs with --redis-cluster")


def slots(*keys: str) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


@pytest.fixture
async def unconnected() -> AsyncIterator[RedisClient]:
    """A client that is never asked anything (scripts register without Redis)."""
    client = create_redis("redis://127.0.0.1:1/0")
    yield client
    await client.aclose()


def test_every_event_stream_and_the_dead_letters_share_one_slot() -> None:
    """A consumer reads all its streams in one XREADGROUP (a multi-key command)."""
    keys = Keys("fb:")
    domains = ("booking", "seats", "flight", "payment", "ticket", "notification", "discount")
    streams = [stream_for(keys, f"{domain}.happened") for domain in domains]
    assert streams[0] == "fb:{events}:booking"
    assert dead_letter_stream(keys) == "fb:{events}:dead"
    assert len(slots(*streams, dead_letter_stream(keys))) == 1


def test_every_key_of_the_search_cache_shares_one_slot(unconnected: RedisClient) -> None:
    """Storing an answer and invalidating a flight are scripts over entries, airport and
    flight indexes and flight states."""
    cache = SearchCache(unconnected, Keys("fb:"), ttl_seconds=300)
    entries = [
        cache.entry_key(
            source=source,
            destination=destination,
            day="2026-03-01",
            passengers=2,
            max_stops=1,
            cabin="economy",
            sort="price",
            limit=100,
        )
        for source, destination in (("DEL", "BOM"), ("BLR", "CCU"), ("SIN", "DXB"))
    ]
    indexes = [cache._from_index("DEL"), cache._to_index("BOM"), cache._to_index("CCU")]
    flights = [cache._flight_index(f, c) for f in (1, 42, 99_999) for c in ("economy", "business")]
    states = [cache._flight_state(f) for f in (1, 42, 99_999)]
    assert entries[0].startswith("fb:{search}:v1:DEL:BOM:")
    assert len(slots(*entries, *indexes, *flights, *states)) == 1


async def test_without_cluster_nodes_the_client_is_one_redis() -> None:
    client = create_redis("redis://localhost:6379/0", cluster_nodes=" ")
    assert isinstance(client, Redis)
    await client.aclose()


async def test_cluster_nodes_make_a_cluster_client_with_the_urls_credentials() -> None:
    client = create_redis(
        "rediss://app:s3cret@ignored.example:6380/0?socket_timeout=7",
        cluster_nodes="10.0.0.1:7000, 10.0.0.2:7001,",
    )
    assert isinstance(client, RedisCluster)
    assert set(client.nodes_manager.startup_nodes) == {"10.0.0.1:7000", "10.0.0.2:7001"}
    options = client.get_connection_kwargs()
    assert options["username"] == "app"
    assert options["password"] == "s3cret"
    assert options["connection_class"] is SSLConnection
    assert options["socket_timeout"] == 7
    assert options["decode_responses"] is True
    await client.aclose()


def test_cluster_nodes_are_host_port_pairs() -> None:
    assert cluster_addresses("a:1, [::1]:7000,,") == [("a", 1), ("::1", 7000)]
    for bad in ("localhost", ":7000", "localhost:port"):
        with pytest.raises(ValueError, match="REDIS_CLUSTER_NODES"):
            cluster_addresses(bad)


async def test_the_run_uses_the_redis_it_was_asked_for(redis: RedisClient) -> None:
    assert isinstance(redis, RedisCluster) == CLUSTER
    assert await redis.ping()


@cluster_only
async def test_the_cluster_has_three_masters_sharing_the_slots(redis: RedisClient) -> None:
    assert isinstance(redis, RedisCluster)
    assert await redis.ping()
    assert len(redis.get_primaries()) == 3
    owners = {redis.get_node_from_key(f"{{flight:{n}}}") for n in range(30)}
    assert len(owners) == 3  # flights' holds really are spread over the masters


@cluster_only
async def test_a_script_over_two_slots_is_refused(redis: RedisClient) -> None:
    """What the hash tags prevent: the cluster (redis-py, before Redis) refuses the script."""
    script = redis.register_script("return #KEYS")
    with pytest.raises(RedisClusterException, match="same key slot"):
        await script(keys=["{flight:1}:a", "{flight:2}:a"])
    assert await script(keys=["{flight:1}:a", "{flight:1}:b"]) == 2
