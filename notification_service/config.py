from functools import lru_cache

from pydantic import field_validator

from shared.settings import BaseServiceSettings


class NotificationSettings(BaseServiceSettings):
    service_name: str = "notification"

    # Queued notifications are delivered (mock sender) every this many seconds, or sooner when
    # an event has just queued some.
    notification_dispatch_seconds: float = 1.0
    # Delivery attempts before a notification is marked failed.
    notification_max_attempts: int = 3
    # Background loops (outbox relay, event consumer, dispatcher); tests may switch them off
    # and drive the same functions by hand.
    background_tasks: bool = True

    @field_validator("notification_dispatch_seconds", "notification_max_attempts")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


@lru_cache
def get_settings() -> NotificationSettings:
    return NotificationSettings()
