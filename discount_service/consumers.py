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
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from discount_service import service
from shared.events import Event, Handler

log = logging.getLogger("discount.consumers")

GROUP = "discount"


async def on_expired(event: Event, session: AsyncSession) -> None:
    await service.release(
        session=session, booking_id=int(event.payload["bookingId"]), reason="booking expired"
    )


async def on_cancelled(event: Event, session: AsyncSession) -> None:
    if event.payload.get("wasPaid") is True:
        return  # paid, then cancelled and refunded: the code was used
    await service.release(
        session=session, booking_id=int(event.payload["bookingId"]), reason="booking cancelled"
    )


async def on_confirmed(event: Event, session: AsyncSession) -> None:
    code = event.payload.get("discountCode")
    await service.release(
        session=session,
        booking_id=int(event.payload["bookingId"]),
        reason="booking paid without the code",
        only_if_code_is_not=code or "",
    )


async def on_repriced(event: Event, session: AsyncSession) -> None:
    p = event.payload
    code = p.get("discountCode")
    if not code:
        return
    await service.record_applied(
        session=session,
        booking_id=int(p["bookingId"]),
        user_id=int(p["userId"]),
        code=str(code),
        amount=Decimal(str((p.get("fare") or {}).get("discount", "0"))),
        currency=str(p.get("currency") or "INR"),
    )


def booking_event_handlers() -> dict[str, Handler]:
    return {
        "booking.expired": on_expired,
        "booking.cancelled": on_cancelled,
        "booking.confirmed": on_confirmed,
        "booking.repriced": on_repriced,
    }
