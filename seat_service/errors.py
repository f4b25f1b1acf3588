"""The seat service's domain errors (mapped to problem+json by `shared.app`)."""

from shared.errors import Conflict, NotFound, TooManyRequests, Unprocessable


class FlightNotFound(NotFound):
    code, title = "FLIGHT_NOT_FOUND", "Flight not found"


class FlightCancelled(Conflict):
    code, title = "FLIGHT_CANCELLED", "Flight is cancelled"


class FlightDeparted(Conflict):
    code, title = "FLIGHT_DEPARTED", "Flight has departed"


class SeatUnavailable(Conflict):
    """Extra member `seats`: the seats already held or sold."""

    code, title = "SEAT_UNAVAILABLE", "Seat not available"


class SeatNotFound(Unprocessable):
    """Extra member `seats`: the seat numbers that are not on this aircraft."""

    code, title = "SEAT_NOT_FOUND", "No such seat on this aircraft"


class DuplicateSeats(Unprocessable):
    code, title = "DUPLICATE_SEATS", "A seat is listed more than once"


class TooManySeats(Unprocessable):
    """One request for more seats than a user may ever hold on a flight."""

    code, title = "TOO_MANY_SEATS", "Too many seats in one request"


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


class HoldNotFound(NotFound):
    code, title = "HOLD_NOT_FOUND", "Hold not found"


class HoldExpired(Conflict):
    code, title = "HOLD_EXPIRED", "Hold has expired"


class HoldReleased(Conflict):
    code, title = "HOLD_RELEASED", "Hold was released"


class HoldAlreadyConfirmed(Conflict):
    code, title = "HOLD_ALREADY_CONFIRMED", "Hold is already confirmed"


class SeatAlreadySold(Conflict):
    """Extra member `seats`: the seats Postgres found already sold."""

    code, title = "SEAT_ALREADY_SOLD", "Seat already sold"
