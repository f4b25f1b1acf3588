from functools import lru_cache

from shared.settings import BaseServiceSettings


class DiscountSettings(BaseServiceSettings):
    service_name: str = "discount"

    # Background loops (outbox relay, the booking-event consumer); tests may switch them off
    # and drive the same functions by hand.
    background_tasks: bool = True


@lru_cache
def get_settings() -> DiscountSettings:
    return DiscountSettings()
