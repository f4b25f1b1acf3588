from seat_service.config import get_settings
from shared.app import create_app

app = create_app(
    settings=get_settings(),
    title="Seat inventory service",
    description="Seat maps and race-free seat holds.",
)
