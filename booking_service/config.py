from decimal import Decimal
from functools import lru_cache

from shared.settings import BaseServiceSettings


class BookingSettings(BaseServiceSettings):
    service_name: str = "booking"

    # Fare rules: GST on the base fare by cabin, and a convenience fee per passenger and flight.
    gst_economy_rate: Decimal = Decimal("0.05")
    gst_business_rate: Decimal = Decimal("0.12")
    convenience_fee: Decimal = Decimal("199.00")
    max_seats_per_booking: int = 9

    # The sweeper expires unpaid bookings after `expiresAt` and finishes interrupted cancellations.
    booking_sweep_seconds: float = 2.0


@lru_cache
def get_settings() -> BookingSettings:
    return BookingSettings()
