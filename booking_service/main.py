from booking_service.config import get_settings
from shared.app import create_app

app = create_app(
    settings=get_settings(),
    title="Booking service",
    description="Bookings from held seats, their lifecycle and fares.",
)
