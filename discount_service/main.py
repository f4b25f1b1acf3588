from discount_service.config import get_settings
from shared.app import create_app

app = create_app(
    settings=get_settings(), title="Discount service", description="Discount codes and redemptions."
)
