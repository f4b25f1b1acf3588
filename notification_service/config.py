from functools import lru_cache

from pydantic import Field, field_validator

from shared.settings import BaseServiceSettings


class NotificationSettings(BaseServiceSettings):
    service_name: str = "notification"

    # Queued notifications are delivered at once when an event has just queued some; this is
    # how often the dispatcher also looks for any left (retries of failed deliveries), seconds.
    notification_dispatch_seconds: float = 5.0
    # Delivery attempts before a notification is marked failed.
    notification_max_attempts: int = 3
    # POST /api/notifications/send per sender in a fixed window (NOTIFICATION_SEND_LIMIT per
    # NOTIFICATION_SEND_WINDOW_SECONDS; 0: no limit); administrators, who may message anyone,
    # have their own (NOTIFICATION_ADMIN_SEND_LIMIT). Event notifications are never limited.
    notification_send_limit: int = Field(10, ge=0)
    notification_admin_send_limit: int = Field(200, ge=0)
    notification_send_window_seconds: int = Field(3600, ge=1)

    @field_validator("notification_dispatch_seconds", "notification_max_attempts")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


@lru_cache
def get_settings() -> NotificationSettings:
    return NotificationSettings()
