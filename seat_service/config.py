from functools import lru_cache

from shared.settings import BaseServiceSettings


class SeatSettings(BaseServiceSettings):
    service_name: str = "seat"


@lru_cache
def get_settings() -> SeatSettings:
    return SeatSettings()
