from notification_service.config import get_settings
from shared.app import create_app

app = create_app(
    settings=get_settings(),
    title="Notification service",
    description="Mock email/SMS notifications from domain events.",
)
