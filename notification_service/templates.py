"""Turning a domain event into the email and the SMS a traveller receives.

Each template uses what the event's payload carries (booking reference, flights and route when
present, seats, passengers, amounts, ticket numbers); an event without a user to tell gives
nothing. Payloads are other services' contracts, so every field is optional here.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notification_service.models import EMAIL, SMS

Payload = Mapping[str, Any]


@dataclass(frozen=True)
class Draft:
    channel: str
    subject: str | None
    message: str


@dataclass(frozen=True)
class Rendered:
    user_id: int
    booking_id: int | None
    reference: str | None
    drafts: tuple[Draft, ...]


def _user_id(p: Payload) -> int | None:
    value = p.get("userId", p.get("user_id"))
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _booking_id(p: Payload) -> int | None:
    value = p.get("bookingId", p.get("booking_id"))
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _money(p: Payload, *keys: str) -> str | None:
    for key in keys:
        value = p.get(key)
        if value not in (None, ""):
            return f"{p.get('currency') or 'INR'} {value}"
    return None


def _when(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%d %b %Y %H:%M %Z").strip()
    except ValueError:
        return str(value)


def _flights(p: Payload) -> str | None:
    """ "AI101 DEL-BOM dep 12 Jan 2026 06:00, AI205 BOM-GOI ..." from what the payload has."""
    segments = p.get("segments")
    if isinstance(segments, list) and segments:
        parts = []
        for s in segments:
            if not isinstance(s, Mapping):
                continue
            number = s.get("flightNumber") or f"flight {s.get('flightId', '?')}"
            route = "-".join(str(x) for x in (s.get("origin"), s.get("destination")) if x)
            when = f"dep {_when(s['departureTime'])}" if s.get("departureTime") else ""
            parts.append(" ".join(x for x in (str(number), route, when) if x))
        if parts:
            return ", ".join(parts)
    if p.get("flightNumber"):
        route = "-".join(str(x) for x in (p.get("origin"), p.get("destination")) if x)
        return " ".join(x for x in (str(p["flightNumber"]), route) if x)
    numbers = p.get("flightNumbers")
    if isinstance(numbers, list) and numbers:
        return ", ".join(str(n) for n in numbers)
    ids = p.get("flightIds")
    if isinstance(ids, list) and ids:
        return ", ".join(f"flight {i}" for i in ids)
    return None


def _seats(p: Payload) -> str | None:
    seats = p.get("seats")
    if isinstance(seats, list) and seats:
        numbers = [
            str(s.get("seatNumber")) if isinstance(s, Mapping) else str(s)
            for s in seats
            if s is not None
        ]
        return ", ".join(n for n in numbers if n and n != "None") or None
    return None


def _passengers(p: Payload) -> str | None:
    names = p.get("passengers")
    if isinstance(names, list) and names:
        return ", ".join(
            str(n.get("name")) if isinstance(n, Mapping) else str(n) for n in names if n
        )
    return None


def _ticket_numbers(p: Payload) -> list[str]:
    numbers = p.get("ticketNumbers")
    if isinstance(numbers, list):
        return [str(n) for n in numbers]
    tickets = p.get("tickets")
    if isinstance(tickets, list):
        return [
            str(t["ticketNumber"])
            for t in tickets
            if isinstance(t, Mapping) and t.get("ticketNumber")
        ]
    return []


def _lines(*items: tuple[str, str | None]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in items if value)


def _ref(p: Payload) -> str:
    return str(p.get("reference") or f"#{p.get('bookingId', '?')}")


# One function per event type: payload -> (subject, email body, SMS text) --------------------

Texts = tuple[str, str, str]


def booking_confirmed(p: Payload) -> Texts:
    given_fare = p.get("fare")
    fare: Payload = given_fare if isinstance(given_fare, Mapping) else {}
    ref, flights = _ref(p), _flights(p)
    paid = _money({**fare, "currency": p.get("currency")}, "total") or _money(p, "amountDue")
    subject = f"Booking {ref} confirmed"
    body = f"Your booking {ref} is confirmed.\n\n" + _lines(
        ("Flights", flights),
        ("Seats", _seats(p)),
        ("Passengers", _passengers(p)),
        ("Discount code", p.get("discountCode")),
        ("Amount paid", paid),
    )
    sms = f"FlightBook: booking {ref} confirmed" + (f", {flights}" if flights else "")
    sms += (f", seats {_seats(p)}" if _seats(p) else "") + (f". Paid {paid}." if paid else ".")
    return subject, body, sms


def booking_cancelled(p: Payload) -> Texts:
    ref = _ref(p)
    refund = p.get("refundedAmount")
    refund_text = (
        f"A refund of {p.get('currency') or 'INR'} {refund} is on its way to your card."
        if refund not in (None, "", "0.00", "0")
        else None
    )
    reason = "the flight was cancelled" if p.get("reason") == "FLIGHT_CANCELLED" else None
    subject = f"Booking {ref} cancelled"
    body = f"Your booking {ref} has been cancelled" + (f" because {reason}" if reason else "")
    body += ".\n\n" + _lines(
        ("Flights", _flights(p)), ("Seats", _seats(p)), ("Refund", refund_text)
    )
    sms = f"FlightBook: booking {ref} cancelled" + (f" ({reason})" if reason else "") + "."
    if refund_text:
        sms += f" Refund {p.get('currency') or 'INR'} {refund}."
    return subject, body.rstrip(), sms


def booking_expired(p: Payload) -> Texts:
    ref = _ref(p)
    subject = f"Booking {ref} expired"
    body = (
        f"Your booking {ref} expired: it was not paid before the seat hold ran out, and the "
        "seats were released. Nothing was charged.\n\n"
        + _lines(("Flights", _flights(p)), ("Amount due", _money(p, "amountDue")))
    )
    sms = f"FlightBook: booking {ref} expired unpaid; the seats were released."
    return subject, body.rstrip(), sms


def payment_failed(p: Payload) -> Texts:
    ref, amount = _ref(p), _money(p, "amount")
    why = p.get("declineCode") or p.get("failureCode")
    subject = f"Payment for booking {ref} failed"
    body = (
        f"Your payment{f' of {amount}' if amount else ''} for booking {ref} did not go through"
        + (f" ({why})" if why else "")
        + ". Your booking stays on hold until it expires: you can pay again with another card."
    )
    sms = f"FlightBook: payment for booking {ref} failed" + (f" ({why})" if why else "") + "."
    return subject, body, sms


def payment_refunded(p: Payload) -> Texts:
    ref, amount = _ref(p), _money(p, "amount")
    subject = f"Refund for booking {ref}"
    body = f"We have refunded {amount or 'your payment'} for booking {ref}." + (
        f"\n\nCard ending {p['cardLast4']}." if p.get("cardLast4") else ""
    )
    sms = f"FlightBook: refund of {amount or 'your payment'} for booking {ref} issued."
    return subject, body, sms


def ticket_issued(p: Payload) -> Texts:
    ref, numbers = _ref(p), _ticket_numbers(p)
    subject = f"E-ticket for booking {ref}"
    body = f"Your e-ticket for booking {ref} is ready.\n\n" + _lines(
        ("Flights", _flights(p)),
        ("Passengers", _passengers(p)),
        ("E-ticket numbers", ", ".join(numbers) or None),
        ("GST invoice", p.get("invoiceNumber")),
        ("Total", _money(p, "total")),
        ("Download (PDF)", p.get("pdfUrl")),
    )
    sms = f"FlightBook: e-ticket issued for booking {ref}" + (
        f", ticket no. {', '.join(numbers)}." if numbers else "."
    )
    return subject, body.rstrip(), sms


def flight_cancelled(p: Payload) -> Texts:
    flight = _flights(p) or "your flight"
    when = f" departing {_when(p['departureTime'])}" if p.get("departureTime") else ""
    subject = f"Flight {p.get('flightNumber', '')} cancelled".replace("  ", " ")
    body = (
        f"Flight {flight}{when} has been cancelled. Any booking on it is cancelled and refunded "
        "in full; you will hear about each separately."
    )
    sms = f"FlightBook: {flight}{when} is cancelled. Bookings on it are refunded."
    return subject, body, sms


TEMPLATES: dict[str, Callable[[Payload], Texts]] = {
    "booking.confirmed": booking_confirmed,
    "booking.cancelled": booking_cancelled,
    "booking.expired": booking_expired,
    "payment.failed": payment_failed,
    "payment.refunded": payment_refunded,
    "ticket.issued": ticket_issued,
    "flight.cancelled": flight_cancelled,
}


def render(event_type: str, payload: Payload) -> Rendered | None:
    """The email and SMS for an event, or None (no template, or nobody to tell)."""
    template = TEMPLATES.get(event_type)
    user_id = _user_id(payload)
    if template is None or user_id is None:
        return None
    subject, body, sms = template(payload)
    reference = payload.get("reference")
    return Rendered(
        user_id=user_id,
        booking_id=_booking_id(payload),
        reference=str(reference)[:12] if reference else None,
        drafts=(Draft(EMAIL, subject[:200], body), Draft(SMS, None, sms[:480])),
    )
