"""The discount service's events: a code's use counted on a booking, and given back."""

from shared.contracts.events import EventPayload
from shared.money import Amount


class DiscountEvent(EventPayload):
    """What every `discount.*` event carries: the code, the booking, and the discount's amount."""

    code: str
    booking_id: int
    user_id: int
    discount: Amount


class DiscountRedeemed(DiscountEvent, type="discount.redeemed"):
    """A use of the code is counted for the booking (`times_used`: the code's count now)."""

    times_used: int


class DiscountReleased(DiscountEvent, type="discount.released"):
    """The booking's use of the code is given back (it expired, was cancelled unpaid, ...)."""

    reason: str
