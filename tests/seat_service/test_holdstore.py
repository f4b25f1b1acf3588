"""The Redis side alone: the scripts' all-or-nothing and compare-and-delete semantics (on
one Redis, or on the cluster of a `--redis-cluster` run)."""

import os
import uuid
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.exceptions import MovedError

from seat_service.holds import _SNAPSHOT, HoldStore
from shared.errors import ServiceUnavailable
from shared.redis import Keys, create_redis
from tests.conftest import REDIS_PREFIX, REDIS_URL


@pytest.fixture
async def store():
    redis = create_redis(REDIS_URL, cluster_nodes=os.environ.get("REDIS_CLUSTER_NODES", ""))
    yield HoldStore(redis, Keys(f"{REDIS_PREFIX}store:{uuid.uuid4().hex[:6]}:"))
    await redis.aclose()


async def acquire(store, hold_id, user_id, *seats, flight_id=1, ttl_ms=60_000):
    return await store.acquire(
        flight_id=flight_id,
        hold_id=hold_id,
        user_id=user_id,
        seats=list(seats),
        ttl_ms=ttl_ms,
        max_per_user=9,
    )


async def test_sold_set_must_be_loaded_first(store):
    got = await acquire(store, uuid.uuid4(), 1, "1A")
    assert got.reload and not got.ok
    await store.load_sold(1, ["2A"])
    assert (await acquire(store, uuid.uuid4(), 1, "1A")).ok
    got = await acquire(store, uuid.uuid4(), 2, "2A", "3A")
    assert got.busy == ["2A"]
    assert await store.redis.get(store.seat_key(1, "3A")) is None


async def test_release_only_deletes_its_own_keys(store):
    await store.load_sold(1, [])
    mine, other = uuid.uuid4(), uuid.uuid4()
    assert (await acquire(store, mine, 1, "1A", "1B")).ok
    # Another hold id (or a hold that already ran out) deletes nothing.
    assert await store.release(flight_id=1, hold_id=other, user_id=1, seats=["1A", "1B"]) is False
    assert await store.redis.get(store.seat_key(1, "1A")) == str(mine)
    assert await store.release(flight_id=1, hold_id=mine, user_id=1, seats=["1A", "1B"]) is True
    assert await store.redis.get(store.seat_key(1, "1A")) is None
    assert await store.redis.exists(store.hold_key(1, mine)) == 0


async def test_pin_and_finish_sale(store):
    await store.load_sold(1, [])
    hold_id = uuid.uuid4()
    assert (await acquire(store, hold_id, 1, "1A", ttl_ms=1000)).ok
    assert await store.pin(flight_id=1, hold_id=hold_id, seats=["1A"], pin_ms=20_000)
    assert await store.redis.pttl(store.seat_key(1, "1A")) > 10_000
    assert not await store.pin(flight_id=1, hold_id=uuid.uuid4(), seats=["1A"], pin_ms=20_000)
    await store.finish_sale(flight_id=1, hold_id=hold_id, user_id=1, seats=["1A"])
    assert await store.redis.get(store.seat_key(1, "1A")) is None
    assert (await acquire(store, uuid.uuid4(), 2, "1A")).busy == ["1A"]
    await store.unsell(1, ["1A"])
    assert (await acquire(store, uuid.uuid4(), 2, "1A")).ok


async def test_a_snapshot_names_holders_and_mine(store):
    await store.load_sold(1, [])
    hold_id = uuid.uuid4()
    await acquire(store, hold_id, 7, "1B")
    holders, mine = await store.snapshot(flight_id=1, seats=["1A", "1B", "1C"], user_id=7)
    assert holders == [None, str(hold_id), None]
    assert mine == {str(hold_id)}


async def test_redis_down_is_503_not_500():
    redis = Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    store = HoldStore(redis, Keys("x:"))
    with pytest.raises(ServiceUnavailable):
        await acquire(store, uuid.uuid4(), 1, "1A")
    with pytest.raises(ServiceUnavailable):
        await store.view(flight_id=1, seats=["1A", "1B"], user_id=1)
    await redis.aclose()


async def test_a_cancelled_flight_refuses_every_hold(store):
    await store.load_sold(1, [])
    assert (await acquire(store, uuid.uuid4(), 1, "1A")).ok
    await store.mark_cancelled(1)
    got = await acquire(store, uuid.uuid4(), 2, "2A")
    assert got.cancelled and not got.ok
    assert await store.redis.get(store.seat_key(1, "2A")) is None
    assert (await store.view(flight_id=1, seats=["1A", "2A"], user_id=1)).cancelled
    # Marked before the sold set was (re)loaded: the set is refilled first, the mark stays.
    await store.mark_cancelled(2)
    assert (await acquire(store, uuid.uuid4(), 1, "1A", flight_id=2)).reload
    await store.load_sold(2, [])
    assert (await acquire(store, uuid.uuid4(), 1, "1A", flight_id=2)).cancelled
    await store.load_sold(3, ["1A"], cancelled=True)
    assert (await acquire(store, uuid.uuid4(), 1, "2A", flight_id=3)).cancelled


async def test_a_seat_map_view_in_one_round_trip(store):
    await store.load_sold(1, [])
    mine, other = uuid.uuid4(), uuid.uuid4()
    await acquire(store, mine, 7, "1B")
    await acquire(store, other, 8, "2A")
    seen = await store.view(flight_id=1, seats=["1A", "1B", "2A", "2B"], user_id=7)
    assert seen.held == {1: str(mine), 2: str(other)}
    assert seen.mine == {str(mine)} and not seen.cancelled


async def test_a_view_survives_a_script_cache_without_its_script(store):
    """Redis restarted (scripts gone): the view loads its script again."""
    store._snapshot = store.redis.register_script(f"{_SNAPSHOT}\n-- {uuid.uuid4()}")
    await store.load_sold(1, [])
    hold_id = uuid.uuid4()
    await acquire(store, hold_id, 7, "1A")
    for _ in range(2):
        seen = await store.view(flight_id=1, seats=["1A", "1B"], user_id=7)
        assert seen.held == {0: str(hold_id)} and seen.mine == {str(hold_id)}


async def test_a_view_whose_slot_moved_is_asked_again_the_ordinary_way(store, monkeypatch):
    """The packed view goes to the node the client believes serves the flight's slot; if the
    slot has moved (MOVED), redis-py's own call asks again and follows it there."""
    await store.load_sold(1, [])
    hold_id = uuid.uuid4()
    await acquire(store, hold_id, 7, "1A")

    class MovedAway:
        async def send_packed_command(self, command):
            raise MovedError("3999 127.0.0.1:1")

    @asynccontextmanager
    async def stale(key):
        yield MovedAway()

    monkeypatch.setattr(store, "_connection", stale)
    seen = await store.view(flight_id=1, seats=["1A", "1B"], user_id=7)
    assert seen.held == {0: str(hold_id)} and seen.mine == {str(hold_id)}
