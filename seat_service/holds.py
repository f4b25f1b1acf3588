"""Live seat holds in Redis: the fast path. Every change is one Lua script, so it is atomic.

Keys of flight 42 share the hash tag `{flight:42}`, so one script only ever touches one slot
(it would run unchanged on Redis Cluster):

    <prefix>seat:{flight:42}:12A        -> holdId, PX ttl          (one per held seat)
    <prefix>hold:{flight:42}:<holdId>   -> hash userId, flightId, seats, expiresAt; PX ttl
    <prefix>user:{flight:42}:<userId>   -> zset "<holdId>:<seat>" scored by expiry (ms)
    <prefix>sold:{flight:42}            -> set of sold seats + the marker "*"
                                           (+ "!" once the flight is cancelled)

A user's seats held over every flight (the MAX_HELD_SEATS_PER_USER cap) and hold rate are kept in
the user's own slot (`user_holds.py`); a release or a sale forgets its entries there after its
own script.

The sold set is a cache of Postgres' `sold_seats` and of the flight's cancellation: a script
that finds no marker answers RELOAD and the service refills the set from Postgres, so a flushed
Redis never lets a sold seat be held again (nor a cancelled flight's seat). Postgres' unique
(flight, seat) stays the final guard.
"""

import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import AskError, NoScriptError, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from seat_service.user_holds import UserHolds
from shared.errors import ServiceUnavailable
from shared.redis import Keys, RedisClient

log = logging.getLogger("seat_service")

SOLD_MARKER = "*"
CANCELLED_MARKER = "!"  # never a seat number: those are digits then a letter
SOLD_SET_TTL_MS = 6 * 3600 * 1000

# KEYS: sold set, user zset, hold record, seat keys...
# ARGV: holdId, ttl ms, max seats per user, userId, flightId, seats... (same order as seat keys)
# -> {"OK", expiresAtMs} | {"BUSY", seat...} | {"LIMIT", seatsAlreadyHeld} | {"RELOAD"}
#    | {"CANCELLED"}
_ACQUIRE = """
local sold, user, hold = KEYS[1], KEYS[2], KEYS[3]
if redis.call('SISMEMBER', sold, '*') == 0 then return {'RELOAD'} end
if redis.call('SISMEMBER', sold, '!') == 1 then return {'CANCELLED'} end
local busy = {}
for i = 4, #KEYS do
  local seat = ARGV[i + 2]
  if redis.call('EXISTS', KEYS[i]) == 1 or redis.call('SISMEMBER', sold, seat) == 1 then
    busy[#busy + 1] = seat
  end
end
if #busy > 0 then return {'BUSY', unpack(busy)} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', user, '-inf', now)
local have = redis.call('ZCARD', user)
if have + (#KEYS - 3) > tonumber(ARGV[3]) then return {'LIMIT', tostring(have)} end
local ttl = tonumber(ARGV[2])
local expires = now + ttl
local seats = {}
for i = 4, #KEYS do
  local seat = ARGV[i + 2]
  seats[#seats + 1] = seat
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ttl)
  redis.call('ZADD', user, expires, ARGV[1] .. ':' .. seat)
end
if redis.call('PTTL', user) < ttl then redis.call('PEXPIRE', user, ttl) end
redis.call('HSET', hold, 'userId', ARGV[4], 'flightId', ARGV[5],
           'seats', table.concat(seats, ','), 'expiresAt', tostring(expires))
redis.call('PEXPIRE', hold, ttl)
return {'OK', tostring(expires)}
"""

# Compare-and-delete: only seat keys whose value is this hold id go.
# KEYS: user zset, hold record, seat keys...   ARGV: holdId, seats...
# -> {seat keys deleted, 1 if the hold record was still there else 0}
_RELEASE = """
local released = 0
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
  redis.call('ZREM', KEYS[1], ARGV[1] .. ':' .. ARGV[i - 1])
end
return {released, redis.call('DEL', KEYS[2])}
"""

# The same, after a sale has committed, and the seats join the sold set.
# KEYS: sold set, user zset, hold record, seat keys...   ARGV: holdId, seats...
_FINISH_SALE = """
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
  redis.call('ZREM', KEYS[2], ARGV[1] .. ':' .. ARGV[i - 2])
  redis.call('SADD', KEYS[1], ARGV[i - 2])
end
redis.call('DEL', KEYS[3])
return 1
"""

# Is the hold live (record present, every seat key still this hold's)? If so, keep it alive at
# least `pin` ms more, so a confirmation that started in time is not overtaken by the expiry.
# KEYS: hold record, seat keys...   ARGV: holdId, pin ms   -> 1 live, 0 not
_PIN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
local pin = tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('PTTL', KEYS[i]) < pin then redis.call('PEXPIRE', KEYS[i], pin) end
end
return 1
"""

# The seat map's view of Redis, in one round trip: which seats are held (by which hold), the
# user's hold ids, and whether the flight is known cancelled. Only held seats travel back.
# KEYS: sold set, user zset, seat keys...
# -> {{seat index (1-based), holdId, ...}, {"holdId:seat", ...}, 1 if cancelled else 0}
_SNAPSHOT = """
local held = {}
for i = 3, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder then
    held[#held + 1] = i - 2
    held[#held + 1] = holder
  end
end
return {held, redis.call('ZRANGE', KEYS[2], 0, -1), redis.call('SISMEMBER', KEYS[1], '!')}
"""


@dataclass(frozen=True)
class Acquired:
    ok: bool
    expires_ms: int = 0
    busy: list[str] = field(default_factory=list)
    already_held: int | None = None  # set when the per-user limit refused the hold
    reload: bool = False
    cancelled: bool = False  # the flight is cancelled (the sold set says so)


@dataclass(frozen=True)
class SeatsView:
    """Redis' part of a seat map."""

    held: dict[int, str]  # position (in the seats asked) of each held seat -> its hold id
    mine: set[str]  # the user's hold ids on the flight
    cancelled: bool


@contextmanager
def redis_errors() -> Iterator[None]:
    """Redis trouble is a 503 for the client, never a 500."""
    try:
        yield
    except RedisError as exc:
        raise ServiceUnavailable("Seat holds are unavailable right now; try again") from exc


def flight_tag(flight_id: int) -> str:
    return f"{{flight:{flight_id}}}"


def _bulk(parts: Iterable[str]) -> bytes:
    """RESP bulk strings."""
    out = bytearray()
    for part in parts:
        data = part.encode()
        out += b"$%d\r\n%b\r\n" % (len(data), data)
    return bytes(out)


@lru_cache(maxsize=1024)
def _packed_keys(base: str, seats: tuple[str, ...]) -> bytes:
    """Every seat key of a flight's layout, ready to send: a seat map sends all of them, and
    redis-py encodes and packs each argument in Python (most of a seat map's CPU, with 600)."""
    return _bulk(base + s for s in seats)


class HoldStore:
    """The Redis side of seat holds; scripts are registered once per client."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.users = UserHolds(redis, keys)
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._finish_sale = redis.register_script(_FINISH_SALE)
        self._pin = redis.register_script(_PIN)
        self._snapshot = redis.register_script(_SNAPSHOT)

    # Keys ---------------------------------------------------------------------------------
    def seat_key(self, flight_id: int, seat: str) -> str:
        return self.keys.key("seat", flight_tag(flight_id), seat)

    def hold_key(self, flight_id: int, hold_id: UUID) -> str:
        return self.keys.key("hold", flight_tag(flight_id), hold_id)

    def user_key(self, flight_id: int, user_id: int) -> str:
        return self.keys.key("user", flight_tag(flight_id), user_id)

    def sold_key(self, flight_id: int) -> str:
        return self.keys.key("sold", flight_tag(flight_id))

    def _seat_keys(self, flight_id: int, seats: Iterable[str]) -> list[str]:
        base = self.seat_key(flight_id, "")
        return [base + s for s in seats]

    # Scripts ------------------------------------------------------------------------------
    async def acquire(
        self,
        *,
        flight_id: int,
        hold_id: UUID,
        user_id: int,
        seats: Sequence[str],
        ttl_ms: int,
        max_per_user: int,
    ) -> Acquired:
        """All or nothing: every seat is free (not held, not sold) and the user is under the
        limit, and then every seat is held; or nothing changes."""
        keys = [
            self.sold_key(flight_id),
            self.user_key(flight_id, user_id),
            self.hold_key(flight_id, hold_id),
            *self._seat_keys(flight_id, seats),
        ]
        args: list[str | int] = [str(hold_id), ttl_ms, max_per_user, user_id, flight_id, *seats]
        with redis_errors():
            answer = await self._acquire(keys=keys, args=args)
        kind = answer[0]
        if kind == "OK":
            return Acquired(True, expires_ms=int(answer[1]))
        if kind == "BUSY":
            return Acquired(False, busy=list(answer[1:]))
        if kind == "LIMIT":
            return Acquired(False, already_held=int(answer[1]))
        if kind == "CANCELLED":
            return Acquired(False, cancelled=True)
        return Acquired(False, reload=True)

    async def release(
        self, *, flight_id: int, hold_id: UUID, user_id: int, seats: Sequence[str]
    ) -> bool:
        """Delete the seat keys that still belong to this hold; False if it had run out."""
        keys = [
            self.user_key(flight_id, user_id),
            self.hold_key(flight_id, hold_id),
            *self._seat_keys(flight_id, seats),
        ]
        with redis_errors():
            released, existed = await self._release(keys=keys, args=[str(hold_id), *seats])
        await self.forget_user_hold(user_id=user_id, hold_id=hold_id, seats=seats)
        return bool(int(existed)) or int(released) > 0

    async def forget_user_hold(self, *, user_id: int, hold_id: UUID, seats: Sequence[str]) -> None:
        """The hold stops counting towards the user's cap. Best effort: entries left behind
        count until the hold's expiry, never longer (see `user_holds.py`)."""
        try:
            await self.users.forget(user_id=user_id, hold_id=hold_id, seats=seats)
        except RedisError:
            log.warning("hold %s still counts for user %s until it expires", hold_id, user_id)

    async def pin(
        self, *, flight_id: int, hold_id: UUID, seats: Sequence[str], pin_ms: int
    ) -> bool:
        """True if the hold is live (then kept alive for at least `pin_ms`)."""
        keys = [self.hold_key(flight_id, hold_id), *self._seat_keys(flight_id, seats)]
        with redis_errors():
            return bool(await self._pin(keys=keys, args=[str(hold_id), pin_ms]))

    async def finish_sale(
        self, *, flight_id: int, hold_id: UUID, user_id: int, seats: Sequence[str]
    ) -> None:
        """After the sale committed: the hold's keys go, its seats join the sold set."""
        keys = [
            self.sold_key(flight_id),
            self.user_key(flight_id, user_id),
            self.hold_key(flight_id, hold_id),
            *self._seat_keys(flight_id, seats),
        ]
        with redis_errors():
            await self._finish_sale(keys=keys, args=[str(hold_id), *seats])
        await self.forget_user_hold(user_id=user_id, hold_id=hold_id, seats=seats)

    # Plain commands -----------------------------------------------------------------------
    async def load_sold(
        self, flight_id: int, sold: Iterable[str], *, cancelled: bool = False
    ) -> None:
        """(Re)fill the flight's sold set from Postgres' sold seats (and its cancellation)."""
        key = self.sold_key(flight_id)
        markers = (SOLD_MARKER, CANCELLED_MARKER) if cancelled else (SOLD_MARKER,)
        with redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, *markers, *sold)
                pipe.pexpire(key, SOLD_SET_TTL_MS)
                await pipe.execute()

    async def mark_cancelled(self, flight_id: int) -> None:
        """From now on every hold on the flight is refused (by the hold script itself). Without
        the sold marker the set is refilled first, from Postgres, which keeps this one."""
        key = self.sold_key(flight_id)
        with redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, CANCELLED_MARKER)
                pipe.pexpire(key, SOLD_SET_TTL_MS)
                await pipe.execute()

    async def unsell(self, flight_id: int, seats: Sequence[str]) -> None:
        if seats:
            with redis_errors():
                await self.redis.srem(self.sold_key(flight_id), *seats)

    async def view(self, *, flight_id: int, seats: Sequence[str], user_id: int) -> SeatsView:
        """One round trip: the holder (hold id) of every seat, the user's hold ids, and
        whether the flight is known cancelled."""
        keys = [self.sold_key(flight_id), self.user_key(flight_id, user_id)]
        seat_keys = _packed_keys(self.seat_key(flight_id, ""), tuple(seats))
        with redis_errors():
            try:
                reply = await self._evalsha_packed(self._snapshot, keys, seat_keys, len(seats))
            except (RedisConnectionError, RedisTimeoutError, AskError, TryAgainError):
                # Again the ordinary way, with redis-py's retries (and, on a cluster, its
                # redirections: a slot that moved, MOVED or ASK, is followed there).
                reply = await self._snapshot(keys=[*keys, *self._seat_keys(flight_id, seats)])
        pairs, members, cancelled = reply
        held = {int(pairs[i]) - 1: pairs[i + 1] for i in range(0, len(pairs), 2)}
        mine = {m.split(":", 1)[0] for m in members}
        return SeatsView(held, mine, bool(cancelled))

    async def _evalsha_packed(
        self, script: AsyncScript, keys: Sequence[str], packed: bytes, packed_count: int
    ) -> Any:
        """EVALSHA of `script` (no ARGV) whose last `packed_count` KEYS come ready-packed;
        a Redis that lost the script gets it again."""
        numkeys = len(keys) + packed_count
        command = [
            b"*%d\r\n" % (3 + numkeys) + _bulk(("EVALSHA", script.sha, str(numkeys), *keys)),
            packed,
        ]
        try:
            async with self._connection(keys[0]) as conn:
                await conn.send_packed_command(command)
                return await conn.read_response()
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self._evalsha_packed(script, keys, packed, packed_count)

    @asynccontextmanager
    async def _connection(self, key: str) -> AsyncIterator[AbstractConnection]:
        """A connection of our own to the Redis that has `key` (on a cluster: the node that
        serves its slot, as far as the client knows; a MOVED answer is the caller's)."""
        if isinstance(self.redis, RedisCluster):
            await self.redis.initialize()  # nothing to do once the client knows the cluster
            node = self.redis.get_node_from_key(key)
            if node is None:  # no node known for the slot: the ordinary way finds one
                raise TryAgainError(f"no known node serves {key}")
            conn = node.acquire_connection()
            try:
                yield conn
            finally:
                node.release(conn)
            return
        pool = self.redis.connection_pool
        # redis-py leaves the concrete ConnectionPool.get_connection unannotated.
        pooled = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            yield pooled
        finally:
            await pool.release(pooled)

    async def snapshot(
        self, *, flight_id: int, seats: Sequence[str], user_id: int
    ) -> tuple[list[str | None], set[str]]:
        """The holder (hold id) of every seat, and the user's hold ids (see `view`)."""
        seen = await self.view(flight_id=flight_id, seats=seats, user_id=user_id)
        holders: list[str | None] = [None] * len(seats)
        for i, hold_id in seen.held.items():
            holders[i] = hold_id
        return holders, seen.mine

    async def live_holds(self, pairs: Sequence[tuple[int, UUID]]) -> list[bool]:
        """For (flight id, hold id) pairs: is the hold record still in Redis?"""
        if not pairs:
            return []
        with redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for flight_id, hold_id in pairs:
                    pipe.exists(self.hold_key(flight_id, hold_id))
                return [bool(n) for n in await pipe.execute()]
