"""Turning a domain event into the email and the SMS a traveller receives.

Each template reads its event's contract (`shared.contracts`): the booking reference, flights
and route, seats, passengers, amounts, ticket numbers, all of which the contract guarantees.
An event names whom to tell by its `userId`; one that names nobody gives nothing (a flight's
cancellation: each booking on the flight is told by its own `booking.cancelled`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from notification_service.models import EMAIL, SMS
from shared.contracts.bookings import (
    BookingCancelled,
    BookingConfirmed,
    BookingDetails,
    BookingEvent,
    BookingExpired,
)
from shared.contracts.events import EventPayload
from shared.contracts.payments import PaymentFailed, PaymentRefunded
from shared.contracts.tickets import TicketIssued
from shared.money import fmt


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


def _money(currency: str, amount: Decimal) -> str:
    return f"{currency} {fmt(amount)}"


def _when(moment: datetime) -> str:
    return moment.strftime("%d %b %Y %H:%M %Z").strip()


def _flights(e: BookingEvent, booking: BookingDetails | None = None) -> str | None:
    """ "AI101 DEL-BOM dep 12 Jan 2026 06:00, AI205 BOM-GOI ..." when the event carries the
    whole booking (`booking.confirmed` does); the flights' ids otherwise."""
    if booking is not None:
        return ", ".join(
            f"{s.flight_number} {s.origin}-{s.destination} dep {_when(s.departure_time)}"
            for s in booking.segments
        )
    return ", ".join(f"flight {i}" for i in e.flight_ids) or None


def _seats(e: BookingEvent) -> str | None:
    return ", ".join(s.seat_number for s in e.seats) or None


def _names(names: list[str]) -> str | None:
    return ", ".join(names) or None


def _lines(*items: tuple[str, str | None]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in items if value)


# One function per event type: the event -> (subject, email body, SMS text) ------------------

Texts = tuple[str, str, str]


def booking_confirmed(e: BookingConfirmed) -> Texts:
    ref, flights, seats = e.reference, _flights(e, e.booking), _seats(e)
    paid = _money(e.currency, e.fare.total)
    subject = f"Booking {ref} confirmed"
    body = f"Your booking {ref} is confirmed.\n\n" + _lines(
        ("Flights", flights),
        ("Seats", seats),
        ("Passengers", _names(e.passengers)),
        ("Discount code", e.discount_code),
        ("Amount paid", paid),
    )
    sms = f"FlightBook: booking {ref} confirmed" + (f", {flights}" if flights else "")
    sms += (f", seats {seats}" if seats else "") + f". Paid {paid}."
    return subject, body, sms


def booking_cancelled(e: BookingCancelled) -> Texts:
    ref = e.reference
    refund = _money(e.currency, e.refunded_amount) if e.refunded_amount else None
    refund_text = f"A refund of {refund} is on its way to your card." if refund else None
    reason = "the flight was cancelled" if e.reason == "FLIGHT_CANCELLED" else None
    subject = f"Booking {ref} cancelled"
    body = f"Your booking {ref} has been cancelled" + (f" because {reason}" if reason else "")
    body += ".\n\n" + _lines(
        ("Flights", _flights(e)), ("Seats", _seats(e)), ("Refund", refund_text)
    )
    sms = f"FlightBook: booking {ref} cancelled" + (f" ({reason})" if reason else "") + "."
    if refund:
        sms += f" Refund {refund}."
    return subject, body.rstrip(), sms


def booking_expired(e: BookingExpired) -> Texts:
    ref = e.reference
    subject = f"Booking {ref} expired"
    body = (
        f"Your booking {ref} expired: it was not paid before the seat hold ran out, and the "
        "seats were released. Nothing was charged.\n\n"
        + _lines(("Flights", _flights(e)), ("Amount due", _money(e.currency, e.amount_due)))
    )
    sms = f"FlightBook: booking {ref} expired unpaid; the seats were released."
    return subject, body.rstrip(), sms


def payment_failed(e: PaymentFailed) -> Texts:
    ref, amount = _ref(e.reference, e.booking_id), _money(e.currency, e.amount)
    why = e.decline_code or e.failure_code
    subject = f"Payment for booking {ref} failed"
    body = (
        f"Your payment of {amount} for booking {ref} did not go through"
        + (f" ({why})" if why else "")
        + ". Your booking stays on hold until it expires: you can pay again with another card."
    )
    sms = f"FlightBook: payment for booking {ref} failed" + (f" ({why})" if why else "") + "."
    return subject, body, sms


def payment_refunded(e: PaymentRefunded) -> Texts:
    ref, amount = _ref(e.reference, e.booking_id), _money(e.currency, e.amount)
    subject = f"Refund for booking {ref}"
    body = f"We have refunded {amount} for booking {ref}." + (
        f"\n\nCard ending {e.card_last4}." if e.card_last4 else ""
    )
    sms = f"FlightBook: refund of {amount} for booking {ref} issued."
    return subject, body, sms


def ticket_issued(e: TicketIssued) -> Texts:
    ref, numbers = e.reference, ", ".join(e.ticket_numbers)
    subject = f"E-ticket for booking {ref}"
    body = f"Your e-ticket for booking {ref} is ready.\n\n" + _lines(
        ("Flights", _names(e.flight_numbers)),
        ("Passengers", _names(e.passengers)),
        ("E-ticket numbers", numbers or None),
        ("GST invoice", e.invoice_number),
        ("Total", _money(e.currency, e.total)),
        ("Download (PDF)", e.pdf_url),
    )
    sms = f"FlightBook: e-ticket issued for booking {ref}" + (
        f", ticket no. {numbers}." if numbers else "."
    )
    return subject, body.rstrip(), sms


def _ref(reference: str | None, booking_id: int) -> str:
    """A payment's booking by its reference (a payment refused early may not know it)."""
    return reference or f"#{booking_id}"


# Each template takes the contract its event type names (`parse_event` gives exactly that).
TEMPLATES: dict[str, Callable[[Any], Texts]] = {
    BookingConfirmed.type: booking_confirmed,
    BookingCancelled.type: booking_cancelled,
    BookingExpired.type: booking_expired,
    PaymentFailed.type: payment_failed,
    PaymentRefunded.type: payment_refunded,
    TicketIssued.type: ticket_issued,
}


def render(event: EventPayload) -> Rendered | None:
    """The email and SMS for an event (a parsed contract), or None: no template, or nobody
    to tell (the contract names no `userId`)."""
    template = TEMPLATES.get(event.type)
    user_id: int | None = getattr(event, "user_id", None)
    if template is None or user_id is None:
        return None
    subject, body, sms = template(event)
    reference: str | None = getattr(event, "reference", None)
    return Rendered(
        user_id=user_id,
        booking_id=getattr(event, "booking_id", None),
        reference=reference[:12] if reference else None,
        drafts=(Draft(EMAIL, subject[:200], body), Draft(SMS, None, sms[:480])),
    )
