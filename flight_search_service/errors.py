"""Domain errors of the flight search service (mapped to problem+json by `shared.app`)."""

from typing import Any

from shared import errors
from shared.errors import Conflict, Unprocessable

# Shared with the seat and booking services (defined once, in the kit).
FlightNotFound = errors.FlightNotFound
FlightDeparted = errors.FlightDeparted


class InvalidSearch(Unprocessable):
    """A 422 that names the offending parameter in `errors`, like request validation does."""

    code, title = "INVALID_SEARCH", "Invalid search"

    def __init__(self, detail: str, *, loc: tuple[str | int, ...], type: str, **kw: Any) -> None:
        super().__init__(detail, errors=[{"loc": list(loc), "message": detail, "type": type}], **kw)


class DatesOutOfOrder(InvalidSearch):
    """A return date before the departure, or a multi-city slice before the one it follows."""

    code, title = "DATES_OUT_OF_ORDER", "Dates out of order"


class UnknownAirport(InvalidSearch):
    code, title = "UNKNOWN_AIRPORT", "Unknown airport"


class InvalidFlight(Unprocessable):
    code, title = "INVALID_FLIGHT", "Invalid flight"

    def __init__(self, detail: str, *, loc: tuple[str, ...], **kw: Any) -> None:
        super().__init__(
            detail, errors=[{"loc": list(loc), "message": detail, "type": "invalid"}], **kw
        )


class FlightExists(Conflict):
    code, title = "FLIGHT_EXISTS", "Flight already exists"


class FlightAlreadyCancelled(Conflict):
    code, title = "FLIGHT_ALREADY_CANCELLED", "Flight already cancelled"
