from functools import lru_cache
from typing import Literal

from pydantic import model_validator

from shared.settings import BaseServiceSettings

# Points where a test (the e2e kill test) may make the process die mid-saga.
FaultPoint = Literal["", "payment.before_charge", "payment.after_charge"]


class PaymentSettings(BaseServiceSettings):
    service_name: str = "payment"

    # Idempotency-Key records are per user and kept this long.
    idempotency_ttl_hours: int = 24
    # A request holding a key longer than this is presumed dead and its key may be taken over.
    idempotency_lock_seconds: float = 60.0

    # The recovery loop drives payments stuck between saga steps (a crash, an unreachable
    # booking service) to a consistent end: every `payment_recovery_seconds`, those untouched
    # for `payment_stuck_after_seconds`.
    payment_recovery_seconds: float = 5.0
    payment_stuck_after_seconds: float = 30.0

    # Test only: exit the process at this point of the payment saga (never in production).
    fault_injection: FaultPoint = ""

    @model_validator(mode="after")
    def _no_faults_in_production(self) -> "PaymentSettings":
        if self.environment == "production" and self.fault_injection:
            raise ValueError("FAULT_INJECTION must not be set in production")
        return self


@lru_cache
def get_settings() -> PaymentSettings:
    return PaymentSettings()
