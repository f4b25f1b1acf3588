from functools import lru_cache

from shared.settings import BaseServiceSettings


class BookingSettings(BaseServiceSettings):
    service_name: str = "booking"


@lru_cache
def get_settings() -> BookingSettings:
    return BookingSettings()
