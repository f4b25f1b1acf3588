"""Pricing a booking from the flights' fares: base fare per seat by cabin, GST, fees, discount.

The client never prices anything: every amount here comes from the flight service's fares
at booking time and this service's fee and tax settings.
"""

from dataclasses import dataclass
from decimal import Decimal

from booking_service.clients import FlightInfo, HoldInfo
from booking_service.config import BookingSettings
from booking_service.errors import FareUnavailable, SeatNotOnAircraft
from shared.money import quantize

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class SeatPrice:
    seat_number: str
    cabin: str
    fare: Decimal
    tax_rate: Decimal
    tax: Decimal


@dataclass(frozen=True)
class SegmentPrice:
    flight: FlightInfo
    hold: HoldInfo
    seats: list[SeatPrice]

    @property
    def cabin(self) -> str:
        cabins = {s.cabin for s in self.seats}
        return cabins.pop() if len(cabins) == 1 else "mixed"


@dataclass(frozen=True)
class Quote:
    segments: list[SegmentPrice]
    base: Decimal
    taxes: Decimal
    fees: Decimal
    discount: Decimal = ZERO
    currency: str = "INR"

    @property
    def total(self) -> Decimal:
        return quantize(self.base + self.taxes + self.fees - self.discount)


def gst_rate(cabin: str, settings: BookingSettings) -> Decimal:
    return (
        settings.gst_business_rate if cabin in ("business", "first") else settings.gst_economy_rate
    )


def price_segment(flight: FlightInfo, hold: HoldInfo, settings: BookingSettings) -> SegmentPrice:
    seats = []
    for number in hold.seats:
        cabin = flight.cabin_of(number)
        if cabin is None:
            raise SeatNotOnAircraft(
                f"Seat {number} is not on flight {flight.flight_number}'s aircraft", seat=number
            )
        fare = flight.fares.get(cabin)
        if fare is None:
            raise FareUnavailable(f"Flight {flight.flight_number} has no {cabin} fare", cabin=cabin)
        rate = gst_rate(cabin, settings)
        seats.append(SeatPrice(number, cabin, quantize(fare), rate, quantize(fare * rate)))
    return SegmentPrice(flight=flight, hold=hold, seats=seats)


def quote(
    legs: list[tuple[FlightInfo, HoldInfo]], settings: BookingSettings, *, passengers: int
) -> Quote:
    """Price an itinerary: base fare and GST per seat, a fee per passenger and flight."""
    segments = [price_segment(flight, hold, settings) for flight, hold in legs]
    base = quantize(sum((s.fare for seg in segments for s in seg.seats), ZERO))
    taxes = quantize(sum((s.tax for seg in segments for s in seg.seats), ZERO))
    fees = quantize(settings.convenience_fee * passengers * len(segments))
    currency = legs[0][0].currency if legs else "INR"
    return Quote(segments=segments, base=base, taxes=taxes, fees=fees, currency=currency)
