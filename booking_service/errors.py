"""The booking service's domain errors (each a stable `code` in the problem document)."""

from shared import errors
from shared.errors import Conflict, Unprocessable

# Codes shared with other services (defined once, in the kit).
AmountMismatch = errors.AmountMismatch
BookingAlreadyPaid = errors.BookingAlreadyPaid
BookingNotFound = errors.BookingNotFound
BookingNotPayable = errors.BookingNotPayable
BookingNotPending = errors.BookingNotPending
DiscountAlreadyApplied = errors.DiscountAlreadyApplied
DiscountTooLarge = errors.DiscountTooLarge
FlightNotFound = errors.FlightNotFound
HoldExpired = errors.HoldExpired
PaymentInProgress = errors.PaymentInProgress
HoldNotFound = errors.HoldNotFound
SeatAlreadySold = errors.SeatAlreadySold
TooManySeats = errors.TooManySeats
FlightCancelled = errors.FlightCancelled
FlightDeparted = errors.FlightDeparted


class HoldNotOwned(Conflict):
    code, title = "HOLD_NOT_OWNED", "The seat hold belongs to another user"


class HoldAlreadyUsed(Conflict):
    code, title = "HOLD_ALREADY_USED", "The seat hold is already used by a booking"


class NoActiveHold(Conflict):
    code, title = "NO_ACTIVE_HOLD", "No live seat hold on this flight"


class HoldRequired(Unprocessable):
    code, title = "HOLD_REQUIRED", "Seat hold ids are required"


class HoldFlightMismatch(Unprocessable):
    code, title = "HOLD_FLIGHT_MISMATCH", "The seat hold is for another flight"


class OneHoldPerFlight(Unprocessable):
    code, title = "ONE_HOLD_PER_FLIGHT", "One seat hold per flight"


class ItineraryInvalid(Unprocessable):
    code, title = "ITINERARY_INVALID", "The flights do not form one itinerary"


class SeatCountMismatch(Unprocessable):
    code, title = "SEAT_COUNT_MISMATCH", "The seat count does not match the held seats"


class PassengersRequired(Unprocessable):
    code, title = "PASSENGERS_REQUIRED", "Passenger names are required"


class PassengerCountMismatch(Unprocessable):
    code, title = "PASSENGER_COUNT_MISMATCH", "One passenger per seat"


class SeatNotOnAircraft(Conflict):
    code, title = "SEAT_NOT_ON_AIRCRAFT", "A held seat is not on the flight's aircraft"


class FareUnavailable(Conflict):
    code, title = "FARE_UNAVAILABLE", "No fare for that cabin"


class PriceChanged(Conflict):
    code, title = "PRICE_CHANGED", "The price has changed"


class BookingNotCancellable(Conflict):
    code, title = "BOOKING_NOT_CANCELLABLE", "The booking cannot be cancelled"


class PaymentMismatch(Conflict):
    code, title = "PAYMENT_MISMATCH", "Another payment is running for this booking"
