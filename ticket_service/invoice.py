"""The GST invoice of a booking, line by line, decimal-exact.

One line per passenger and flight: the base fare (the taxable value), the GST rate and amount
the booking charged for that seat (5% economy, 12% business), and that line's share of the
convenience fees. The booking's discount is taken off the invoice total, as it was taken off
the amount due. The invoice must add up to the amount the traveller paid, or nothing is issued.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.money import CENT, fmt, quantize
from ticket_service.clients import BookingView
from ticket_service.errors import FareInconsistent
from ticket_service.words import amount_in_words

ZERO = Decimal("0.00")
# Services Accounting Code: scheduled air transport services of passengers.
SAC_AIR_PASSENGER = "996425"
GST_RATES = {"economy": Decimal("0.05"), "premium_economy": Decimal("0.05")}
GST_RATE_PREMIUM = Decimal("0.12")  # business and first


@dataclass(frozen=True)
class InvoiceDraft:
    lines: list[dict[str, Any]]
    base: Decimal
    gst: Decimal
    fees: Decimal
    discount: Decimal
    total: Decimal
    total_in_words: str
    currency: str


def gst_rate(*, cabin: str, fare: Decimal, tax: Decimal) -> Decimal:
    """The rate the seat was taxed at: the cabin's GST rate when it gives exactly the tax
    charged, else the rate the charged tax implies."""
    rate = GST_RATES.get(cabin.lower(), GST_RATE_PREMIUM)
    if quantize(fare * rate) == tax or fare == 0:
        return rate
    return (tax / fare).quantize(Decimal("0.0001")).normalize()


def split_evenly(total: Decimal, parts: int) -> list[Decimal]:
    """`total` in `parts` shares that differ by at most a paisa and add up exactly."""
    cents = int(quantize(total) / CENT)
    share, extra = divmod(cents, parts)
    return [(share + (1 if i < extra else 0)) * CENT for i in range(parts)]


def draft_invoice(booking: BookingView) -> InvoiceDraft:
    segments = {s.flight_id: s for s in booking.segments}
    names = [p.name for p in booking.passengers]
    fee_shares = split_evenly(booking.fare.fees, len(booking.seats))
    lines = []
    for i, (seat, fee) in enumerate(zip(booking.seats, fee_shares, strict=True)):
        seg = segments.get(seat.flight_id)
        if seg is None:
            raise FareInconsistent(f"Seat {seat.seat_number} is on a flight not in the booking")
        rate = gst_rate(cabin=seat.cabin, fare=seat.fare, tax=seat.tax)
        position = seg.seats.index(seat.seat_number) if seat.seat_number in seg.seats else -1
        passenger = seat.passenger or (
            names[position] if 0 <= position < len(names) else f"Passenger {position + 1}"
        )
        lines.append(
            {
                "line": i + 1,
                "description": (
                    f"Air travel {seg.origin}-{seg.destination}, {seg.flight_number}, "
                    f"seat {seat.seat_number} ({seat.cabin})"
                ),
                "sac": SAC_AIR_PASSENGER,
                "passenger": passenger,
                "flightId": seat.flight_id,
                "flightNumber": seg.flight_number,
                "seatNumber": seat.seat_number,
                "cabin": seat.cabin,
                "base": fmt(seat.fare),
                "gstRate": f"{rate:f}",
                "gst": fmt(seat.tax),
                "fee": fmt(fee),
                "total": fmt(seat.fare + seat.tax + fee),
            }
        )
    base = quantize(sum((s.fare for s in booking.seats), ZERO))
    gst = quantize(sum((s.tax for s in booking.seats), ZERO))
    fees = quantize(sum(fee_shares, ZERO))
    discount = booking.fare.discount
    total = quantize(base + gst + fees - discount)
    paid = booking.amount_due
    if (base, gst, fees) != (booking.fare.base, booking.fare.taxes, booking.fare.fees):
        raise FareInconsistent(
            f"Booking {booking.reference}: its seats do not add up to its fare breakdown"
        )
    if total != paid or total < 0:
        raise FareInconsistent(
            f"Booking {booking.reference}: the invoice total {fmt(total)} is not the amount "
            f"paid {fmt(paid)}"
        )
    return InvoiceDraft(
        lines=lines,
        base=base,
        gst=gst,
        fees=fees,
        discount=discount,
        total=total,
        total_in_words=amount_in_words(total, booking.currency),
        currency=booking.currency,
    )
