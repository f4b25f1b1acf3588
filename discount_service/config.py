from functools import lru_cache

from pydantic import Field

from shared.settings import BaseServiceSettings


class DiscountSettings(BaseServiceSettings):
    service_name: str = "discount"

    # Code probing: unknown or expired codes one user may try per window in apply and validate
    # (DISCOUNT_FAILED_ATTEMPT_LIMIT per DISCOUNT_FAILED_ATTEMPT_WINDOW_SECONDS; 0: no limit).
    # Past it every attempt is 429 until the window ends, a valid code too. A typo or two is
    # fine; guessing codes one by one is not.
    discount_failed_attempt_limit: int = Field(10, ge=0)
    discount_failed_attempt_window_seconds: int = Field(3600, ge=1)


@lru_cache
def get_settings() -> DiscountSettings:
    return DiscountSettings()
