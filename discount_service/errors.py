"""The discount service's domain errors (each a stable `code` in the problem document)."""

from shared.errors import Conflict, NotFound, Unprocessable


class DiscountNotFound(NotFound):
    code, title = "DISCOUNT_NOT_FOUND", "Discount code not found"


class DiscountExpired(Unprocessable):
    code, title = "DISCOUNT_EXPIRED", "Discount code is not valid now"


class DiscountExhausted(Unprocessable):
    code, title = "DISCOUNT_EXHAUSTED", "Discount code has been used up"


class DiscountUserLimit(Unprocessable):
    code, title = "DISCOUNT_USER_LIMIT", "Discount code already used as often as allowed"


class DiscountMinAmount(Unprocessable):
    code, title = "DISCOUNT_MIN_AMOUNT", "Booking amount below the code's minimum"


class DiscountAlreadyApplied(Conflict):
    code, title = "DISCOUNT_ALREADY_APPLIED", "A discount code is already applied"


class DiscountCodeExists(Conflict):
    code, title = "DISCOUNT_CODE_EXISTS", "Discount code already exists"


class BookingNotFound(NotFound):
    code, title = "BOOKING_NOT_FOUND", "Booking not found"


class BookingNotPending(Conflict):
    code, title = "BOOKING_NOT_PENDING", "The booking is not pending"


class PaymentInProgress(Conflict):
    code, title = "PAYMENT_IN_PROGRESS", "A payment for this booking is in progress"


class DiscountTooLarge(Unprocessable):
    code, title = "DISCOUNT_TOO_LARGE", "The discount exceeds the booking's amount"
