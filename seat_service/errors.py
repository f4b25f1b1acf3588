"""The seat service's domain errors (mapped to problem+json by `shared.app`)."""

from shared import errors
from shared.errors import Conflict, TooManyRequests, Unprocessable

# Shared with the booking and flight search services (defined once, in the kit).
FlightNotFound = errors.FlightNotFound
FlightCancelled = errors.FlightCancelled
FlightDeparted = errors.FlightDeparted
HoldNotFound = errors.HoldNotFound
SeatAlreadySold = errors.SeatAlreadySold  # extra member `seats`: the seats already sold
TooManySeats = errors.TooManySeats  # more seats than a user may ever hold on a flight
HoldExpired = errors.HoldExpired


class SeatUnavailable(Conflict):
    """Extra member `seats`: the seats already held or sold."""

    code, title = "SEAT_UNAVAILABLE", "Seat not available"


class SeatNotFound(Unprocessable):
    """Extra member `seats`: the seat numbers that are not on this aircraft."""

    code, title = "SEAT_NOT_FOUND", "No such seat on this aircraft"


class DuplicateSeats(Unprocessable):
    code, title = "DUPLICATE_SEATS", "A seat is listed more than once"


class SeatLimitExceeded(Conflict):
    """The request plus the seats the user already holds on the flight exceed the limit."""

    code, title = "SEAT_LIMIT_EXCEEDED", "Seat hold limit reached"


class HoldLimitReached(Conflict):
    """The request plus the seats the user already holds over every flight exceed
    MAX_HELD_SEATS_PER_USER. Extra members `limit`, `held`, `requested`."""

    code, title = "HOLD_LIMIT_REACHED", "Too many seats held"


class HoldRateLimited(TooManyRequests):
    """More hold attempts than HOLD_RATE_LIMIT in the window (Retry-After says when)."""

    code, title = "HOLD_RATE_LIMITED", "Too many hold attempts"


class HoldReleased(Conflict):
    code, title = "HOLD_RELEASED", "Hold was released"


class HoldAlreadyConfirmed(Conflict):
    code, title = "HOLD_ALREADY_CONFIRMED", "Hold is already confirmed"
