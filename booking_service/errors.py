"""The booking service's domain errors (each a stable `code` in the problem document)."""

from shared.errors import Conflict, NotFound, Unprocessable


class BookingNotFound(NotFound):
    code, title = "BOOKING_NOT_FOUND", "Booking not found"


class FlightNotFound(NotFound):
    code, title = "FLIGHT_NOT_FOUND", "Flight not found"


class HoldNotFound(NotFound):
    code, title = "HOLD_NOT_FOUND", "Seat hold not found"


class HoldNotOwned(Conflict):
    code, title = "HOLD_NOT_OWNED", "The seat hold belongs to another user"


class HoldExpired(Conflict):
    code, title = "HOLD_EXPIRED", "The seat hold has expired"


class HoldAlreadyUsed(Conflict):
    code, title = "HOLD_ALREADY_USED", "The seat hold is already used by a booking"


class SeatAlreadySold(Conflict):
    code, title = "SEAT_ALREADY_SOLD", "A held seat was sold to someone else"


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


class TooManySeats(Unprocessable):
    code, title = "TOO_MANY_SEATS", "Too many seats in one booking"


class PassengersRequired(Unprocessable):
    code, title = "PASSENGERS_REQUIRED", "Passenger names are required"


class PassengerCountMismatch(Unprocessable):
    code, title = "PASSENGER_COUNT_MISMATCH", "One passenger per seat"


class SeatNotOnAircraft(Conflict):
    code, title = "SEAT_NOT_ON_AIRCRAFT", "A held seat is not on the flight's aircraft"


class FareUnavailable(Conflict):
    code, title = "FARE_UNAVAILABLE", "No fare for that cabin"


class FlightCancelled(Conflict):
    code, title = "FLIGHT_CANCELLED", "The flight is cancelled"


class FlightDeparted(Conflict):
    code, title = "FLIGHT_DEPARTED", "The flight has departed"


class PriceChanged(Conflict):
    code, title = "PRICE_CHANGED", "The price has changed"


class AmountMismatch(Conflict):
    code, title = "AMOUNT_MISMATCH", "The amount does not match the amount due"


class BookingAlreadyPaid(Conflict):
    code, title = "BOOKING_ALREADY_PAID", "The booking is already paid"


class BookingNotPayable(Conflict):
    code, title = "BOOKING_NOT_PAYABLE", "The booking cannot be paid"


class BookingNotPending(Conflict):
    code, title = "BOOKING_NOT_PENDING", "The booking is not pending"


class BookingNotCancellable(Conflict):
    code, title = "BOOKING_NOT_CANCELLABLE", "The booking cannot be cancelled"


class PaymentInProgress(Conflict):
    code, title = "PAYMENT_IN_PROGRESS", "A payment for this booking is in progress"


class PaymentMismatch(Conflict):
    code, title = "PAYMENT_MISMATCH", "Another payment is running for this booking"


class DiscountAlreadyApplied(Conflict):
    code, title = "DISCOUNT_ALREADY_APPLIED", "A discount code is already applied"


class DiscountTooLarge(Unprocessable):
    code, title = "DISCOUNT_TOO_LARGE", "The discount exceeds the booking's amount"


class CancellationPending(Conflict):
    code, title = "CANCELLATION_PENDING", "The booking is being cancelled"
