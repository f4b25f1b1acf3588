"""Redis client factory and key naming (every key carries the deployment's prefix).

The services run on one Redis (`REDIS_URL`) or on a Redis Cluster (`REDIS_CLUSTER_NODES`),
unchanged: both clients speak the same commands. On a cluster a Lua script, a MULTI/EXEC or a
multi-key command runs only if all its keys hash to one slot, so keys used together share a
hash tag, the part of the name in braces, which alone decides the slot: `{flight:42}` (a
flight's holds), `{user:7}` (a user's hold cap and rate), `{events}` (every event stream),
`{search}` (the search cache). On one Redis a tag is just characters of the name.
"""

from typing import Any, TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url

# Either client: they share the command API (redis.commands), and mypy checks every use
# against both. Code that needs more (a connection of its own) asks which one it has.
RedisClient: TypeAlias = Redis | RedisCluster

# Connections per cluster node: like the single client's pool, in effect unbounded (a cluster
# client past its limit fails the command instead of waiting). A process's concurrency is
# bounded upstream, by MAX_CONCURRENT_REQUESTS.
CLUSTER_MAX_CONNECTIONS_PER_NODE = 2**31


def create_redis(url: str, *, cluster_nodes: str = "") -> RedisClient:
    """The client of the Redis at `url`; with `cluster_nodes` ("host:port,host:port", see
    `REDIS_CLUSTER_NODES`), of the Redis Cluster those nodes belong to, and `url` gives only
    the credentials, TLS (`rediss://`) and connection options."""
    if not cluster_nodes.strip():
        return Redis.from_url(url, decode_responses=True, health_check_interval=30)
    # As RedisCluster.from_url reads a URL, less its one node: the cluster's are given.
    options: dict[str, Any] = dict(parse_url(url))
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_addresses(cluster_nodes)],
        decode_responses=True,
        health_check_interval=30,
        max_connections=CLUSTER_MAX_CONNECTIONS_PER_NODE,
        **options,
    )


def cluster_addresses(nodes: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (an IPv6 host in brackets: `[::1]:7000`) as (host, port) pairs."""
    addresses = []
    for node in (n.strip() for n in nodes.split(",")):
        if not node:
            continue
        host, sep, port = node.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"REDIS_CLUSTER_NODES: {node!r} is not host:port")
        addresses.append((host.removeprefix("[").removesuffix("]"), int(port)))
    return addresses


class Keys:
    """Builds namespaced keys: `Keys("fb:").key("seat", "{flight:42}", "12A")`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)
