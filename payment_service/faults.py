"""Fault injection, for the e2e kill test only: a payment process that dies mid-saga.

The `fault_injection` setting (a `FaultPoint`, refused in production) makes the process exit
at that point of the saga, as a crash would, so the test can check that the recovery loop of a
fresh process finishes the payment. Unset (always, outside that test), every point is a no-op.
The in-process tests replace `crash_point` to raise instead of exiting.
"""

import logging
import os

from payment_service.config import PaymentSettings

log = logging.getLogger("payment.service")


def crash_point(settings: PaymentSettings, point: str) -> None:
    """Test only (the e2e kill test): die here, as a crash would, if configured to."""
    if settings.fault_injection == point:
        log.error("fault injection: exiting at %s", point)
        os._exit(75)
