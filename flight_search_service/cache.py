"""The search result cache: never serves a result that has become wrong.

Keys (all under the deployment's prefix, all with the hash tag `{search}`: see below):

- `{search}:v1:<SRC>:<DST>:<date>:<pax>:<stops>:<cabin>:<sort>:<limit>`: one answer, stored as
  `<first departure, epoch ms>|<response JSON>` (bytes: read back without decoding, sent as
  they are). It expires no later than the first departure in it (and after
  `SEARCH_CACHE_TTL_SECONDS` at most), and a hit whose first departure has passed is treated
  as a miss all the same.
- `{search}:idx:flight:<id>:<cabin>`: sorted set of the entries that show flight `id`, scored by
  the passengers each needed. When the flight is cancelled or sells out every entry goes;
  when its seats drop to `n`, the entries that needed more than `n` go (a precise, per-flight
  invalidation; never a flush).
- `{search}:idx:from:<SRC>` / `{search}:idx:to:<DST>`: entries by airport, dropped when a new
  flight from SRC or into DST is created (it may belong in them).
- `{search}:state:<id>`: the seats a flight has left per cabin, as last invalidated (0 once
  cancelled or sold out). Storing an entry checks it atomically, so an answer computed from
  data read just before an invalidation is never stored after it.

An invalidation is one Lua script (one round trip). A seats event that leaves every cabin at
least `MAX_PASSENGERS` seats, or all of its seats, cannot make any entry wrong (none needed
more) and does not touch Redis at all: the common case while a flight sells.

On Redis Cluster a script runs only if all its keys are in one slot, and storing an answer
touches the indexes and states of every flight in it (the invalidation, the entries of any
query): the whole cache is one slot, `{search}`, so on one shard. It is a cache, bounded by its
TTLs; sharding it (by date, say) would need a store and an invalidation per shard.
"""

import logging
from collections.abc import Iterable
from datetime import datetime

from redis.client import NEVER_DECODE

from shared.redis import Keys, RedisClient

log = logging.getLogger("flight_search_service.cache")

# Every key of the cache: one slot on Redis Cluster (see the module docstring).
SEARCH_TAG = "{search}"

# KEYS: entry, from-index, to-index, then (flight index, flight state) pairs.
# ARGV: value, ttl ms, passengers, cabin, index ttl seconds.
_PUT = """
local pax = tonumber(ARGV[3])
for i = 4, #KEYS, 2 do
  local left = redis.call('HGET', KEYS[i + 1], ARGV[4])
  if left and tonumber(left) < pax then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, 3 do
  redis.call('SADD', KEYS[i], KEYS[1])
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
for i = 4, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], pax, KEYS[1])
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
return 1
"""

# A query asks for at most this many seats (the API's bound on `passengers`), so no entry
# needs more: a seats event leaving at least that many (or the whole cabin) drops nothing.
MAX_PASSENGERS = 9


def may_drop(*, economy: int, business: int, capacity: tuple[int, int]) -> bool:
    """Could an entry showing a flight with these seats left need more of them? An entry
    needed at most MAX_PASSENGERS seats of its cabin, and at most the cabin's capacity."""
    return economy < min(MAX_PASSENGERS, capacity[0]) or business < min(MAX_PASSENGERS, capacity[1])


# KEYS: flight state, economy index, business index. ARGV: economy seats, business seats,
# state ttl seconds. One round trip: the state first (a store racing with this refuses itself),
# then the entries that needed more seats than are left, in each cabin. The entry keys come
# from the indexes (not declared in KEYS, like the indexes' members elsewhere).
_INVALIDATE = """
redis.call('HSET', KEYS[1], 'economy', ARGV[1], 'business', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local dropped = 0
for i = 2, 3 do
  local above = '(' .. ARGV[i - 1]
  local members = redis.call('ZRANGEBYSCORE', KEYS[i], above, '+inf')
  if #members > 0 then
    for j = 1, #members, 1000 do
      redis.call('UNLINK', unpack(members, j, math.min(j + 999, #members)))
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[i], above, '+inf')
    dropped = dropped + #members
  end
end
return dropped
"""


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SearchCache:
    def __init__(self, redis: RedisClient, keys: Keys, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self._put = redis.register_script(_PUT)
        self._invalidate = redis.register_script(_INVALIDATE)
        # Key prefixes, built once (a stored answer names dozens of per-flight keys).
        self._flight_prefix = keys.key(SEARCH_TAG, "idx", "flight", "")
        self._state_prefix = keys.key(SEARCH_TAG, "state", "")

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    def entry_key(
        self,
        *,
        source: str,
        destination: str,
        day: str,
        passengers: int,
        max_stops: int,
        cabin: str,
        sort: str,
        limit: int,
    ) -> str:
        return self.keys.key(
            SEARCH_TAG, "v1", source, destination, day, passengers, max_stops, cabin, sort, limit
        )

    def _flight_index(self, flight_id: int, cabin: str) -> str:
        return f"{self._flight_prefix}{flight_id}:{cabin}"

    def _flight_state(self, flight_id: int) -> str:
        return f"{self._state_prefix}{flight_id}"

    def _from_index(self, airport: str) -> str:
        return self.keys.key(SEARCH_TAG, "idx", "from", airport)

    def _to_index(self, airport: str) -> str:
        return self.keys.key(SEARCH_TAG, "idx", "to", airport)

    async def get(self, key: str, *, now: datetime) -> bytes | None:
        """The cached body, or None (also when a flight in it has departed meanwhile)."""
        raw: bytes | None = await self.redis.execute_command("GET", key, **{NEVER_DECODE: True})
        if raw is None:
            return None
        first_departure, _, body = raw.partition(b"|")
        if first_departure != b"0" and _epoch_ms(now) >= int(first_departure):
            await self.redis.unlink(key)
            return None
        return body

    async def put(
        self,
        key: str,
        body: bytes,
        *,
        now: datetime,
        source: str,
        destination: str,
        passengers: int,
        cabin: str,
        flight_ids: Iterable[int],
        first_departure: datetime | None,
    ) -> bool:
        """Store an answer unless a flight in it was invalidated meanwhile."""
        ttl_ms = self.ttl_seconds * 1000
        if first_departure is not None:
            ttl_ms = min(ttl_ms, _epoch_ms(first_departure) - _epoch_ms(now))
        if ttl_ms <= 0:
            return False
        keys = [key, self._from_index(source), self._to_index(destination)]
        for flight_id in sorted(set(flight_ids)):
            keys += [self._flight_index(flight_id, cabin), self._flight_state(flight_id)]
        header = b"%d|" % (_epoch_ms(first_departure) if first_departure else 0)
        stored = await self._put(
            keys=keys, args=[header + body, ttl_ms, passengers, cabin, self.ttl_seconds + 60]
        )
        return bool(stored)

    async def invalidate_flight(self, flight_id: int, *, economy: int, business: int) -> int:
        """The flight now has these seats left (0 and 0: cancelled or sold out): drop every
        entry that needed more. Returns how many entries were dropped."""
        keys = [
            self._flight_state(flight_id),
            self._flight_index(flight_id, "economy"),
            self._flight_index(flight_id, "business"),
        ]
        args = [max(0, economy), max(0, business), self.ttl_seconds + 60]
        dropped = int(await self._invalidate(keys=keys, args=args))
        if dropped:
            log.info("search cache: flight %s invalidated %d entries", flight_id, dropped)
        return dropped

    async def invalidate_airports(self, *, source: str, destination: str) -> int:
        """A new flight SRC->DST: drop the entries from SRC and into DST."""
        indexes = [self._from_index(source), self._to_index(destination)]
        members = await self.redis.sunion(indexes)
        if members:
            await self.redis.unlink(*members)
        await self.redis.unlink(*indexes)
        return len(members)
