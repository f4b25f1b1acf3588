from functools import lru_cache

from shared.settings import BaseServiceSettings


class PaymentSettings(BaseServiceSettings):
    service_name: str = "payment"


@lru_cache
def get_settings() -> PaymentSettings:
    return PaymentSettings()
