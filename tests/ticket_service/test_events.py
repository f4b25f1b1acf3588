"""Events: ticket.issued through the outbox; booking.confirmed issues the ticket and
booking.cancelled voids it, through the real consumer on the booking service's stream."""

import io
import uuid
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from shared.contracts.bookings import (
    BookingCancelled,
    BookingConfirmed,
    BookingEvent,
    FareAmounts,
    SeatRef,
)
from shared.contracts.tickets import TicketIssued, TicketVoided
from shared.events import Event
from tests.helpers import eventually
from tests.ticket_service.conftest import Tickets
from ticket_service import service
from ticket_service.errors import BookingNotConfirmed


def event(type: str, **payload) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=type,
        source="booking",
        occurred_at=datetime.now(UTC),
        payload=payload,
    )


def booking_event(model: type[BookingEvent], booking: dict, **fields) -> Event:
    """The booking service's event `model` of a booking (as its API answers it)."""
    contract = model(
        booking_id=booking["id"],
        reference=booking["reference"],
        user_id=booking["userId"],
        status=booking["status"],
        flight_ids=booking["flightIds"],
        seats=[SeatRef.model_validate(s) for s in booking["seats"]],
        passengers=[p["name"] for p in booking["passengers"]],
        fare=FareAmounts.model_validate(booking["fare"]),
        amount_due=booking["amountDue"],
        currency=booking["currency"],
        **fields,
    )
    return event(model.type, **contract.payload())


NO_SUCH_BOOKING = {
    "id": 9_000_000_001,
    "reference": "NOSUCH",
    "userId": 1,
    "status": "CONFIRMED",
    "flightIds": [],
    "seats": [],
    "passengers": [],
    "fare": {"base": 0, "taxes": 0, "fees": 0, "discount": 0, "total": 0},
    "amountDue": 0,
    "currency": "INR",
}


async def ticket_rows(tickets: Tickets, booking_id: int) -> list:
    return await tickets.sql(
        "SELECT id, status, void_reason FROM tickets.tickets WHERE booking_id = :b", b=booking_id
    )


async def test_booking_confirmed_issues_the_ticket(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "22A", "22B")

    async def issued() -> bool:
        await tickets.consume()
        return bool(await ticket_rows(tickets, booking["id"]))

    await eventually(issued, within=15)
    [(ticket_id, status, _)] = await ticket_rows(tickets, booking["id"])
    assert status == "issued"
    # The traveller's explicit call then returns the same ticket.
    r = await tickets.generate(headers, booking["id"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == ticket_id and len(r.json()["tickets"]) == 2
    # A repeat of the event (a redelivery the consumer did not catch) does no work twice.
    state = tickets.app.state
    async with state.db.sessionmaker() as session, session.begin():
        await service.on_booking_confirmed(
            await confirmed_event(tickets, booking["id"]),
            session,
            bookings=state.clients.bookings,
            settings=state.settings,
        )
    assert len(await ticket_rows(tickets, booking["id"])) == 1
    published = await tickets.sql(
        "SELECT payload FROM tickets.outbox WHERE type = 'ticket.issued' "
        "AND (payload->>'bookingId')::bigint = :b",
        b=booking["id"],
    )
    assert len(published) == 1
    issued = TicketIssued.model_validate(published[0].payload)
    assert (issued.booking_id, issued.user_id) == (booking["id"], booking["userId"])


async def test_ticket_issued_is_relayed_to_the_ticket_stream(tickets: Tickets, user) -> None:
    _, headers = user
    t = await tickets.issued(headers, (await tickets.confirmed_booking(headers))["id"])
    relay = tickets.app.state.relay
    while await relay.relay_once():
        pass
    stream = tickets.app.state.keys.key("{events}", "ticket")
    entries = await tickets.app.state.redis.xrange(stream)
    events = [Event.from_fields(fields) for _, fields in entries]
    mine = [e for e in events if e.type == "ticket.issued" and e.payload["ticketId"] == t["id"]]
    assert len(mine) == 1 and mine[0].source == "ticket"
    issued = TicketIssued.of(mine[0])
    assert issued.ticket_numbers == [c["ticketNumber"] for c in t["tickets"]]
    assert issued.pdf_url == t["pdfUrl"]


async def test_booking_cancelled_voids_the_ticket(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "23C")
    t = await tickets.issued(headers, booking["id"])
    r = await tickets.stack.bookings.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED", r.text

    async def voided() -> bool:
        await tickets.consume()
        return (await ticket_rows(tickets, booking["id"]))[0].status == "void"

    await eventually(voided, within=15)
    got = (await tickets.client.get(f"/api/tickets/{t['id']}", headers=headers)).json()
    assert got["status"] == "void" and got["voidedAt"] and got["voidReason"] == "USER_CANCELLED"
    assert got["tickets"] == t["tickets"]  # the numbers stay, void
    again = await tickets.generate(headers, booking["id"])
    assert again.status_code == 409 and again.json()["bookingStatus"] == "CANCELLED"
    pdf = await tickets.client.get(t["pdfUrl"], headers=headers)
    assert "VOID" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    voided_events = await tickets.sql(
        "SELECT payload FROM tickets.outbox WHERE type = 'ticket.voided' "
        "AND (payload->>'ticketId')::bigint = :t",
        t=t["id"],
    )
    assert len(voided_events) == 1
    voided = TicketVoided.model_validate(voided_events[0].payload)
    assert voided.ticket_numbers == [c["ticketNumber"] for c in t["tickets"]]


async def test_no_ticket_after_the_cancellation_event(tickets: Tickets, user) -> None:
    """booking.cancelled handled before an issue that read the booking as CONFIRMED just
    before: the issue is refused, and no live ticket exists for a cancelled booking."""
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "24D")
    state = tickets.app.state
    view = await state.clients.bookings.get_booking(booking["id"])
    assert view.confirmed
    async with state.db.sessionmaker() as session, session.begin():
        cancelled = booking_event(
            BookingCancelled,
            {**booking, "status": "CANCELLED"},
            reason="USER_CANCELLED",
            refunded_amount="0.00",
            was_paid=False,
        )
        await service.on_booking_cancelled(cancelled, session)
    async with state.db.sessionmaker() as session, session.begin():
        with pytest.raises(BookingNotConfirmed) as refused:
            await service.issue_ticket(session=session, booking=view, settings=state.settings)
    assert refused.value.extra["bookingStatus"] == "CANCELLED"
    assert await ticket_rows(tickets, booking["id"]) == []


async def test_events_for_unknown_bookings_are_harmless(tickets: Tickets) -> None:
    state = tickets.app.state
    async with state.db.sessionmaker() as session, session.begin():
        await service.on_booking_confirmed(
            booking_event(BookingConfirmed, NO_SUCH_BOOKING),
            session,
            bookings=state.clients.bookings,
            settings=state.settings,
        )
        await service.on_booking_cancelled(
            booking_event(
                BookingCancelled, NO_SUCH_BOOKING, refunded_amount="0.00", was_paid=False
            ),
            session,
        )
    assert await ticket_rows(tickets, 9_000_000_001) == []


class NoBookingService:
    """A booking client for handlers that must not call the booking service."""

    async def get_booking(self, booking_id: int):
        raise AssertionError(f"booking {booking_id} fetched over HTTP")


async def confirmed_event(tickets: Tickets, booking_id: int) -> Event:
    """The booking service's own `booking.confirmed` of the booking, from its outbox."""
    [row] = await tickets.sql(
        "SELECT payload FROM bookings.outbox WHERE type = 'booking.confirmed' "
        "AND (payload->>'bookingId')::bigint = :b",
        b=booking_id,
    )
    return event("booking.confirmed", **row.payload)


async def test_booking_confirmed_issues_from_the_event_without_asking(
    tickets: Tickets, user
) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "25A", "25B")
    state = tickets.app.state
    async with state.db.sessionmaker() as session, session.begin():
        await service.on_booking_confirmed(
            await confirmed_event(tickets, booking["id"]),
            session,
            bookings=NoBookingService(),
            settings=state.settings,
        )
    [(ticket_id, status, _)] = await ticket_rows(tickets, booking["id"])
    assert status == "issued"
    r = await tickets.generate(headers, booking["id"])  # the one issued, as from a fetch
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["id"] == ticket_id
    assert [p["name"] for p in t["passengers"]] == ["Passenger 1", "Passenger 2"]
    assert [c["seatNumber"] for c in t["tickets"]] == ["25A", "25B"]
    assert t["invoice"]["total"] == booking["amountDue"]


async def test_an_event_without_the_booking_fetches_it(tickets: Tickets, user) -> None:
    """Events published before the booking service added `booking` are still handled."""
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "26A")
    old = await confirmed_event(tickets, booking["id"])
    del old.payload["booking"]
    state = tickets.app.state
    async with state.db.sessionmaker() as session, session.begin():
        with pytest.raises(AssertionError, match="fetched over HTTP"):
            await service.on_booking_confirmed(
                old, session, bookings=NoBookingService(), settings=state.settings
            )
    async with state.db.sessionmaker() as session, session.begin():
        await service.on_booking_confirmed(
            old, session, bookings=state.clients.bookings, settings=state.settings
        )
    [(_, status, _)] = await ticket_rows(tickets, booking["id"])
    assert status == "issued"
