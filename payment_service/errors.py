"""The payment service's domain errors (each a stable `code` in the problem document)."""

from shared import errors
from shared.errors import Conflict, DomainError, NotFound, ServiceUnavailable, Unprocessable

# Codes shared with the booking service (the same checks, and its refusals passed on),
# defined once in the kit.
AmountMismatch = errors.AmountMismatch
BookingAlreadyPaid = errors.BookingAlreadyPaid
BookingNotFound = errors.BookingNotFound
BookingNotPayable = errors.BookingNotPayable
HoldExpired = errors.HoldExpired
PaymentInProgress = errors.PaymentInProgress


class PaymentNotFound(NotFound):
    code, title = "PAYMENT_NOT_FOUND", "Payment not found"


class NotRefundable(Conflict):
    code, title = "PAYMENT_NOT_REFUNDABLE", "The payment cannot be refunded"


class PaymentDeclined(DomainError):
    status, code, title = 402, "PAYMENT_DECLINED", "The card was declined"


class PaymentAbandoned(ServiceUnavailable):
    code, title = "PAYMENT_ABANDONED", "The payment attempt was given up"


class CardInvalid(Unprocessable):
    code, title = "CARD_INVALID", "The card number is not valid"


class CardExpired(Unprocessable):
    code, title = "CARD_EXPIRED", "The card has expired"


class IdempotencyKeyInvalid(Unprocessable):
    code, title = "IDEMPOTENCY_KEY_INVALID", "Invalid Idempotency-Key"


class IdempotencyKeyReused(Unprocessable):
    code, title = "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key reused with another request"


class IdempotencyInProgress(Conflict):
    code, title = "IDEMPOTENCY_IN_PROGRESS", "A request with this Idempotency-Key is in progress"
