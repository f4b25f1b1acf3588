from functools import lru_cache

from shared.settings import BaseServiceSettings


class NotificationSettings(BaseServiceSettings):
    service_name: str = "notification"


@lru_cache
def get_settings() -> NotificationSettings:
    return NotificationSettings()
