from shared.app import create_app
from ticket_service.config import get_settings

app = create_app(
    settings=get_settings(), title="Ticket service", description="E-tickets and GST invoices."
)
