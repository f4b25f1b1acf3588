from functools import lru_cache

from shared.settings import BaseServiceSettings


class FlightSearchSettings(BaseServiceSettings):
    service_name: str = "flight-search"


@lru_cache
def get_settings() -> FlightSearchSettings:
    return FlightSearchSettings()
