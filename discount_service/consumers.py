"""Booking events the discount service consumes (consumer group "discount").

The booking is the truth about whether its discount counts; these keep the redemptions in step:

- `booking.expired`: the redemption is released (the use goes back to the code).
- `booking.cancelled`: released unless the booking had been paid (`wasPaid`): a cancelled paid
  booking was refunded, but the code was used.
- `booking.confirmed`: paid without our code (a reservation whose reprice never landed):
  released.
- `booking.repriced`: carries a code we hold no redemption for (an apply whose answer was
  lost): recorded.
"""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from discount_service import service
from shared.contracts.bookings import (
    BookingCancelled,
    BookingConfirmed,
    BookingExpired,
    BookingRepriced,
)
from shared.events import Event, Handler

log = logging.getLogger("discount.consumers")

GROUP = "discount"


async def on_expired(event: Event, session: AsyncSession) -> None:
    expired = BookingExpired.of(event)
    await service.release(session=session, booking_id=expired.booking_id, reason="booking expired")


async def on_cancelled(event: Event, session: AsyncSession) -> None:
    cancelled = BookingCancelled.of(event)
    if cancelled.was_paid:
        return  # paid, then cancelled and refunded: the code was used
    await service.release(
        session=session, booking_id=cancelled.booking_id, reason="booking cancelled"
    )


async def on_confirmed(event: Event, session: AsyncSession) -> None:
    confirmed = BookingConfirmed.of(event)
    await service.release(
        session=session,
        booking_id=confirmed.booking_id,
        reason="booking paid without the code",
        only_if_code_is_not=confirmed.discount_code or "",
    )


async def on_repriced(event: Event, session: AsyncSession) -> None:
    repriced = BookingRepriced.of(event)
    if not repriced.discount_code:
        return
    await service.record_applied(
        session=session,
        booking_id=repriced.booking_id,
        user_id=repriced.user_id,
        code=repriced.discount_code,
        amount=repriced.fare.discount,
        currency=repriced.currency,
    )


def booking_event_handlers() -> dict[str, Handler]:
    return {
        BookingExpired.type: on_expired,
        BookingCancelled.type: on_cancelled,
        BookingConfirmed.type: on_confirmed,
        BookingRepriced.type: on_repriced,
    }
