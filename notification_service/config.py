from functools import lru_cache

from pydantic import field_validator

from shared.settings import BaseServiceSettings


class NotificationSettings(BaseServiceSettings):
    service_name: str = "notification"

    # Queued notifications are delivered at once when an event has just queued some; this is
    # how often the dispatcher also looks for any left (retries of failed deliveries), seconds.
    notification_dispatch_seconds: float = 5.0
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
