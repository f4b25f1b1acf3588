"""A per-sender quota on POST /api/notifications/send: messages are mock here, but an SMS
costs money and reaches a phone, so nobody may send them in a loop.

A fixed window per sender in Redis; every send that passes the permission check counts, sent
or not. Administrators (who may message anyone) have a quota of their own, higher but still
finite: a stolen admin token must not be an SMS cannon either. The notifications the service
makes from events never pass here and are never throttled.
"""

from shared.errors import TooManyRequests
from shared.ratelimit import RateLimiter
from shared.redis import Keys, RedisClient
from shared.security import Principal


class NotificationRateLimited(TooManyRequests):
    code, title = "NOTIFICATION_RATE_LIMITED", "Too many messages sent"


class SendQuota:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, limit: int, admin_limit: int, window_seconds: int
    ) -> None:
        self.limiter = RateLimiter(redis)
        self.keys = keys
        self.limit = limit  # 0: none
        self.admin_limit = admin_limit  # 0: none
        self.window = window_seconds

    def key(self, user_id: int) -> str:
        return self.keys.key("notification", "send", user_id)

    async def take(self, sender: Principal) -> None:
        """Count one message of `sender`; `NotificationRateLimited` (429) past the quota."""
        limit = self.admin_limit if sender.is_admin else self.limit
        if limit <= 0:
            return
        await self.limiter.enforce(
            self.key(sender.user_id),
            limit=limit,
            window_seconds=self.window,
            refusal=NotificationRateLimited,
            detail=f"At most {limit} messages per {self.window} s; try again later",
            # Fail closed: an unmetered SMS is what this prevents.
            unavailable="Sending messages is temporarily unavailable",
        )
