"""The payment service's contracts: its internal refund route, a payment as the booking service
reads it, and the `payment.*` events.

    POST /internal/payments/refund    RefundRequest -> Payment    (booking service)
    GET  /internal/payments/{id}      Payment                     (booking service)
    payment.failed, payment.refunded                               (notification service)
    payment.succeeded                                              (no consumer yet)
"""

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.contracts.events import EventPayload
from shared.ids import BIGINT_MAX
from shared.money import Amount
from shared.schemas import CamelModel, RequestModel

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
RefundReason = Annotated[str, StringConstraints(max_length=200)]


class RefundRequest(RequestModel):
    """Refund the booking's payment in full (idempotent); no reason: BOOKING_CANCELLED."""

    booking_id: Id
    reason: RefundReason | None = None


class PaymentFields(CamelModel):
    """What the payment answers and the `payment.*` events both say of a payment."""

    payment_id: int
    booking_id: int
    reference: str | None = None
    status: str
    amount: Amount
    currency: str
    card_last4: str | None = None
    card_brand: str | None = None
    decline_code: str | None = None
    failure_code: str | None = None
    booking_status: str | None = None


class Payment(PaymentFields):
    """A payment: the internal routes' answer (and the public one's, `PaymentOut`)."""

    created_at: datetime
    updated_at: datetime
    refunded_at: datetime | None = None


class PaymentEvent(PaymentFields, EventPayload):
    """What every `payment.*` event carries: the payment as the step that moved it left it."""

    user_id: int


class PaymentSucceeded(PaymentEvent, type="payment.succeeded"):
    """The booking confirmed the charged payment."""


class PaymentFailed(PaymentEvent, type="payment.failed"):
    """No money was taken (declined, abandoned, the booking unavailable)."""


class PaymentRefunded(PaymentEvent, type="payment.refunded"):
    """The money went back to the card (the booking could not be confirmed, or was cancelled)."""

    reason: str
