"""The search result cache: never serves a result that has become wrong.

Keys (all under the deployment's prefix):

- `search:v1:<SRC>:<DST>:<date>:<pax>:<stops>:<cabin>:<sort>:<limit>`: one answer, stored as
  `<first departure, epoch ms>|<response JSON>`. It expires no later than the first departure
  in it (and after `SEARCH_CACHE_TTL_SECONDS` at most), and a hit whose first departure has
  passed is treated as a miss all the same.
- `search:idx:flight:<id>:<cabin>`: sorted set of the entries that show flight `id`, scored by
  the passengers each needed. When the flight is cancelled or sells out every entry goes;
  when its seats drop to `n`, the entries that needed more than `n` go (a precise, per-flight
  invalidation; never a flush).
- `search:idx:from:<SRC>` / `search:idx:to:<DST>`: entries by airport, dropped when a new
  flight from SRC or into DST is created (it may belong in them).
- `search:state:<id>`: the seats a flight has left per cabin, as last invalidated (0 once
  cancelled or sold out). Storing an entry checks it atomically, so an answer computed from
  data read just before an invalidation is never stored after it.
"""

import logging
from collections.abc import Iterable
from datetime import datetime

from redis.asyncio import Redis

from shared.redis import Keys

log = logging.getLogger("flight_search_service.cache")

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

CABINS = ("economy", "business")


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SearchCache:
    def __init__(self, redis: Redis, keys: Keys, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self._put = redis.register_script(_PUT)

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
            "search", "v1", source, destination, day, passengers, max_stops, cabin, sort, limit
        )

    def _flight_index(self, flight_id: int, cabin: str) -> str:
        return self.keys.key("search", "idx", "flight", flight_id, cabin)

    def _flight_state(self, flight_id: int) -> str:
        return self.keys.key("search", "state", flight_id)

    def _from_index(self, airport: str) -> str:
        return self.keys.key("search", "idx", "from", airport)

    def _to_index(self, airport: str) -> str:
        return self.keys.key("search", "idx", "to", airport)

    async def get(self, key: str, *, now: datetime) -> str | None:
        """The cached body, or None (also when a flight in it has departed meanwhile)."""
        raw = await self.redis.get(key)
        if raw is None:
            return None
        first_departure, _, body = raw.partition("|")
        if first_departure != "0" and _epoch_ms(now) >= int(first_departure):
            await self.redis.unlink(key)
            return None
        return body

    async def put(
        self,
        key: str,
        body: str,
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
        value = f"{_epoch_ms(first_departure) if first_departure else 0}|{body}"
        stored = await self._put(
            keys=keys, args=[value, ttl_ms, passengers, cabin, self.ttl_seconds + 60]
        )
        return bool(stored)

    async def invalidate_flight(self, flight_id: int, *, economy: int, business: int) -> int:
        """The flight now has these seats left (0 and 0: cancelled or sold out): drop every
        entry that needed more. Returns how many entries were dropped."""
        seats = {"economy": max(0, economy), "business": max(0, business)}
        state = self._flight_state(flight_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(state, mapping=seats)
            pipe.expire(state, self.ttl_seconds + 60)
            await pipe.execute()
        dropped: set[str] = set()
        for cabin in CABINS:
            index = self._flight_index(flight_id, cabin)
            above = f"({seats[cabin]}"
            members = await self.redis.zrangebyscore(index, above, "+inf")
            if members:
                dropped.update(members)
                await self.redis.unlink(*members)
                await self.redis.zremrangebyscore(index, above, "+inf")
        if dropped:
            log.info("search cache: flight %s invalidated %d entries", flight_id, len(dropped))
        return len(dropped)

    async def invalidate_airports(self, *, source: str, destination: str) -> int:
        """A new flight SRC->DST: drop the entries from SRC and into DST."""
        indexes = [self._from_index(source), self._to_index(destination)]
        members = await self.redis.sunion(indexes)
        if members:
            await self.redis.unlink(*members)
        await self.redis.unlink(*indexes)
        return len(members)
