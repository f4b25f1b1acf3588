from flight_search_service.config import get_settings
from shared.app import create_app

app = create_app(
    settings=get_settings(),
    title="Flight search service",
    description="Direct and one-stop flight search over the flight catalog.",
)
