"""The ticket service's domain errors (each a stable `code` in the problem document)."""

from shared import errors
from shared.errors import BadGateway, Conflict, NotFound

# Shared with the booking service (defined once, in the kit).
BookingNotFound = errors.BookingNotFound


class TicketNotFound(NotFound):
    code, title = "TICKET_NOT_FOUND", "Ticket not found"


class BookingNotConfirmed(Conflict):
    code, title = "BOOKING_NOT_CONFIRMED", "The booking is not confirmed"


class FareInconsistent(BadGateway):
    code, title = "BOOKING_FARE_INCONSISTENT", "The booking's fare does not add up"
