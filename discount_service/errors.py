"""The discount service's domain errors (each a stable `code` in the problem document)."""

from shared import errors
from shared.errors import Conflict, NotFound, Unprocessable

# Codes shared with the booking service (the same checks, and its refusals passed on),
# defined once in the kit.
BookingNotFound = errors.BookingNotFound
BookingNotPending = errors.BookingNotPending
DiscountAlreadyApplied = errors.DiscountAlreadyApplied
DiscountTooLarge = errors.DiscountTooLarge
PaymentInProgress = errors.PaymentInProgress


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


class DiscountCodeExists(Conflict):
    code, title = "DISCOUNT_CODE_EXISTS", "Discount code already exists"
