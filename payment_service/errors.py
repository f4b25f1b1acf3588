"""The payment service's domain errors (each a stable `code` in the problem document)."""

from typing import Any

from shared.errors import Conflict, DomainError, NotFound, ServiceUnavailable, Unprocessable


class BookingNotFound(NotFound):
    code, title = "BOOKING_NOT_FOUND", "Booking not found"


class PaymentNotFound(NotFound):
    code, title = "PAYMENT_NOT_FOUND", "Payment not found"


class AmountMismatch(Conflict):
    code, title = "AMOUNT_MISMATCH", "The amount does not match the amount due"


class BookingAlreadyPaid(Conflict):
    code, title = "BOOKING_ALREADY_PAID", "The booking is already paid"


class BookingNotPayable(Conflict):
    code, title = "BOOKING_NOT_PAYABLE", "The booking cannot be paid"


class HoldExpired(Conflict):
    code, title = "HOLD_EXPIRED", "The seat hold has expired"


class PaymentInProgress(Conflict):
    code, title = "PAYMENT_IN_PROGRESS", "A payment for this booking is in progress"


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


class Relayed(DomainError):
    """Another service's problem answer, passed on with its status and code."""

    def __init__(
        self, *, status: int, code: str, title: str, detail: str, extra: dict[str, Any]
    ) -> None:
        super().__init__(detail, **extra)
        self.status = status  # type: ignore[misc]
        self.code = code  # type: ignore[misc]
        self.title = title  # type: ignore[misc]
