from functools import lru_cache

from shared.settings import BaseServiceSettings


class DiscountSettings(BaseServiceSettings):
    service_name: str = "discount"


@lru_cache
def get_settings() -> DiscountSettings:
    return DiscountSettings()
