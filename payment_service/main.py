from payment_service.config import get_settings
from shared.app import create_app

app = create_app(
    settings=get_settings(),
    title="Payment service",
    description="Payments through the mock card gateway, refunds, idempotency.",
)
