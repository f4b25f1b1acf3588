"""The ticket service's events: a booking's e-ticket issued, and voided."""

from shared.contracts.events import EventPayload
from shared.money import Amount


class TicketEvent(EventPayload):
    """What every `ticket.*` event carries: the ticket, its booking and its e-ticket numbers."""

    ticket_id: int
    booking_id: int
    reference: str
    user_id: int
    ticket_numbers: list[str]


class TicketIssued(TicketEvent, type="ticket.issued"):
    """A confirmed booking's e-ticket: one number per passenger and flight, and its invoice."""

    passengers: list[str]
    flight_numbers: list[str]
    invoice_number: str
    total: Amount
    currency: str
    pdf_url: str


class TicketVoided(TicketEvent, type="ticket.voided"):
    """The booking was cancelled: its ticket is void."""

    reason: str | None = None
