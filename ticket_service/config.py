from functools import lru_cache

from shared.settings import BaseServiceSettings


class TicketSettings(BaseServiceSettings):
    service_name: str = "ticket"


@lru_cache
def get_settings() -> TicketSettings:
    return TicketSettings()
