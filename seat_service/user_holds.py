"""A user's holds across every flight: the cap on seats held at once, and the hold rate.

The seat keys of a flight share its hash tag (`{flight:42}`, see `holds.py`); a count over all
of a user's flights cannot live in any one flight's slot. It lives in the user's own slot:

    <prefix>held:{user:7}       -> zset "<holdId>:<seat>" scored by the hold's expiry (ms)
    <prefix>holdrate:{user:7}   -> the hold attempts of the current window (fixed window)

so a hold is two scripts, each on one slot (both run unchanged on Redis Cluster):

1. `reserve` (user slot): count the attempt against the rate; drop the entries that have
   expired; if the seats already held plus those asked fit under the cap, add one entry per
   seat asked, scored by when the hold will expire. Atomic, so concurrent holds of one user on
   different flights are serialised here and can never together pass the cap.
2. the hold script (flight slot). If it refuses (seat taken, flight cancelled, ...) or fails,
   the reservation is taken back (`forget`): compensation, not a transaction.

A release or a sale forgets the hold's entries after its own script. Every way this can go
wrong errs on the safe side: a step that never runs (a crash, Redis unreachable for the
compensation) leaves entries that count until their expiry, at most SEAT_HOLD_SECONDS, and
never a hold that does not count. Expired holds stop counting by themselves (their score is
their expiry), so no sweeper is needed. The one gap: a hold being confirmed is kept alive a
few seconds past its expiry (`HoldStore.pin`) but no longer counts from its expiry on; it is
becoming a sale, which never counts.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from shared.redis import Keys, RedisClient

# KEYS: rate window, held zset
# ARGV: rate limit (0: none), window ms, cap, ttl ms, members...
# -> {"OK", seats held now} | {"RATE", ms until the window ends} | {"LIMIT", seats held}
_RESERVE = """
local limit = tonumber(ARGV[1])
if limit > 0 then
  local n = redis.call('INCR', KEYS[1])
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); left = tonumber(ARGV[2]) end
  if n > limit then return {'RATE', left} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local have = redis.call('ZCARD', KEYS[2])
local want = #ARGV - 4
if have + want > tonumber(ARGV[3]) then return {'LIMIT', have} end
local ttl = tonumber(ARGV[4])
for i = 5, #ARGV do redis.call('ZADD', KEYS[2], now + ttl, ARGV[i]) end
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return {'OK', have + want}
"""


@dataclass(frozen=True)
class Reservation:
    ok: bool
    held: int = 0  # seats the user holds (with these, when ok)
    retry_after_ms: int | None = None  # set when the hold rate refused the attempt


def user_tag(user_id: int) -> str:
    return f"{{user:{user_id}}}"


def members(hold_id: UUID, seats: Sequence[str]) -> list[str]:
    return [f"{hold_id}:{seat}" for seat in seats]


class UserHolds:
    """The user-slot side of holds (see the module docstring)."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._reserve = redis.register_script(_RESERVE)

    def held_key(self, user_id: int) -> str:
        return self.keys.key("held", user_tag(user_id))

    def rate_key(self, user_id: int) -> str:
        return self.keys.key("holdrate", user_tag(user_id))

    async def reserve(
        self,
        *,
        user_id: int,
        hold_id: UUID,
        seats: Sequence[str],
        ttl_ms: int,
        cap: int,
        rate_limit: int,
        rate_window_ms: int,
    ) -> Reservation:
        """Count a hold attempt and, if the rate and the cap allow, reserve its seats."""
        answer = await self._reserve(
            keys=[self.rate_key(user_id), self.held_key(user_id)],
            args=[rate_limit, rate_window_ms, cap, ttl_ms, *members(hold_id, seats)],
        )
        kind, number = answer[0], int(answer[1])
        if kind == "OK":
            return Reservation(True, held=number)
        if kind == "RATE":
            return Reservation(False, retry_after_ms=number)
        return Reservation(False, held=number)

    async def forget(self, *, user_id: int, hold_id: UUID, seats: Sequence[str]) -> None:
        """The hold no longer counts (released, sold, or never granted)."""
        if seats:
            await self.redis.zrem(self.held_key(user_id), *members(hold_id, seats))

    async def held(self, user_id: int) -> int:
        """Seats the user holds now, over every flight."""
        seconds, micros = await self.redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return int(await self.redis.zcount(self.held_key(user_id), f"({now_ms}", "+inf"))
