"""Issuing, reading and voiding e-tickets.

A ticket is issued once per booking, whoever asks first: the traveller's
`POST /api/tickets/generate` or the `booking.confirmed` consumer. Both end in `issue_ticket`,
which runs under a per-booking advisory lock with a unique `booking_id` as the final guard, so
concurrent issues of one booking give one ticket. `booking.cancelled` voids the ticket, under the
same lock, and records the cancellation so that an issue racing it cannot produce a live ticket
for a cancelled booking.

Every function takes keyword arguments and an explicit session; the public ones commit their
own transaction, the event handlers run in the consumer's.
"""

import logging
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared import clock
from shared.contracts import bookings as booking_status
from shared.contracts.bookings import BookingCancelled, BookingConfirmed
from shared.contracts.tickets import TicketIssued, TicketVoided
from shared.db import autocommit
from shared.events import Event, publish
from shared.security import Principal
from ticket_service.clients import BookingClient, BookingView, booking_from_event
from ticket_service.config import TicketSettings
from ticket_service.errors import BookingNotConfirmed, BookingNotFound, TicketNotFound
from ticket_service.invoice import InvoiceDraft, draft_invoice
from ticket_service.models import (
    ISSUED,
    VOID,
    BookingCancellation,
    Coupon,
    Invoice,
    InvoiceCounter,
    Ticket,
    outbox,
    ticket_serial,
)
from ticket_service.numbering import (
    airline_prefix,
    financial_year,
    invoice_number,
    ticket_number,
)

log = logging.getLogger("ticket.service")


def pdf_path(ticket_id: int) -> str:
    return f"/api/tickets/{ticket_id}/pdf"


async def _lock_booking(session: AsyncSession, booking_id: int) -> None:
    """Serialise issuing and voiding of one booking until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"tickets.booking:{booking_id}"},
    )


async def _ticket_of_booking(session: AsyncSession, booking_id: int) -> Ticket | None:
    return await session.scalar(
        select(Ticket)
        .where(Ticket.booking_id == booking_id)
        .execution_options(populate_existing=True)
    )


async def _next_invoice_serial(session: AsyncSession, year: str) -> int:
    """The next serial of the financial year (gapless: the counter row is locked until commit)."""
    counter = pg_insert(InvoiceCounter).values(financial_year=year, last_number=1)
    stmt = counter.on_conflict_do_update(
        index_elements=[InvoiceCounter.financial_year],
        set_={"last_number": InvoiceCounter.last_number + 1},
    ).returning(InvoiceCounter.last_number)
    return int((await session.execute(stmt)).scalar_one())


async def _serials(session: AsyncSession, count: int) -> list[int]:
    rows = await session.execute(
        select(ticket_serial.next_value()).select_from(func.generate_series(1, count))
    )
    return [int(v) for v in rows.scalars()]


def issued_event(ticket: Ticket) -> TicketIssued:
    """`ticket.issued`: what the traveller is told (numbers, passengers, flights, invoice)."""
    return TicketIssued(
        ticket_id=ticket.id,
        booking_id=ticket.booking_id,
        reference=ticket.reference,
        user_id=ticket.user_id,
        ticket_numbers=[c.ticket_number for c in ticket.coupons],
        passengers=list(dict.fromkeys(c.passenger for c in ticket.coupons)),
        flight_numbers=list(dict.fromkeys(c.flight_number for c in ticket.coupons)),
        invoice_number=ticket.invoice.number,
        total=ticket.invoice.total,
        currency=ticket.currency,
        pdf_url=pdf_path(ticket.id),
    )


async def issue_ticket(
    *, session: AsyncSession, booking: BookingView, settings: TicketSettings
) -> tuple[Ticket, bool]:
    """Issue the ticket of a CONFIRMED booking, in the caller's transaction; (ticket, created).

    The booking's existing ticket is returned as it is. A booking the booking service has
    cancelled meanwhile is refused.
    """
    await _lock_booking(session, booking.id)
    existing = await _ticket_of_booking(session, booking.id)
    if existing is not None:
        return existing, False
    if not booking.confirmed or await session.get(BookingCancellation, booking.id) is not None:
        raise BookingNotConfirmed(
            f"Booking {booking.reference} is not confirmed",
            bookingStatus=booking_status.CANCELLED if booking.confirmed else booking.status,
        )
    draft = draft_invoice(booking)  # refuses a booking whose fare does not add up
    now = clock.utcnow()
    ticket_id = await _insert_ticket(session=session, booking=booking, now=now)
    if ticket_id is None:  # the unique booking_id is the last guard behind the lock
        return await _stored_ticket(session=session, booking_id=booking.id), False
    await _add_coupons(
        session=session, ticket_id=ticket_id, booking=booking, draft=draft, settings=settings
    )
    await _add_invoice(
        session=session,
        ticket_id=ticket_id,
        booking=booking,
        draft=draft,
        settings=settings,
        now=now,
    )
    await session.flush()
    ticket = await _stored_ticket(session=session, booking_id=booking.id)
    await publish(session, outbox, issued_event(ticket))
    log.info("ticket %s issued for booking %s", ticket.id, booking.reference)
    return ticket, True


async def _stored_ticket(*, session: AsyncSession, booking_id: int) -> Ticket:
    """The booking's ticket, known to exist in this transaction (none is a bug: an error)."""
    return (
        await session.scalars(
            select(Ticket)
            .where(Ticket.booking_id == booking_id)
            .execution_options(populate_existing=True)
        )
    ).one()


async def _insert_ticket(
    *, session: AsyncSession, booking: BookingView, now: datetime
) -> int | None:
    """The new ticket's id; None when another transaction has issued the booking's ticket."""
    return await session.scalar(
        pg_insert(Ticket)
        .values(
            booking_id=booking.id,
            user_id=booking.user_id,
            reference=booking.reference,
            status=ISSUED,
            currency=booking.currency,
            issued_at=now,
            snapshot=booking.model_dump(mode="json", by_alias=True),
        )
        .on_conflict_do_nothing(index_elements=[Ticket.booking_id])
        .returning(Ticket.id)
    )


async def _add_coupons(
    *,
    session: AsyncSession,
    ticket_id: int,
    booking: BookingView,
    draft: InvoiceDraft,
    settings: TicketSettings,
) -> None:
    """One coupon (with its e-ticket number) per invoice line: a passenger on a flight."""
    segments = {s.flight_id: s for s in booking.segments}
    serials = await _serials(session, len(draft.lines))
    for position, (line, serial) in enumerate(zip(draft.lines, serials, strict=True)):
        seg = segments[line["flightId"]]
        prefix = airline_prefix(
            airline=seg.airline,
            flight_number=seg.flight_number,
            default=settings.ticket_default_airline_prefix,
        )
        session.add(
            Coupon(
                ticket_id=ticket_id,
                position=position,
                ticket_number=ticket_number(prefix, serial),
                passenger=line["passenger"],
                flight_id=seg.flight_id,
                flight_number=seg.flight_number,
                airline=seg.airline,
                origin=seg.origin,
                destination=seg.destination,
                departure_time=seg.departure_time,
                arrival_time=seg.arrival_time,
                cabin=line["cabin"],
                seat_number=line["seatNumber"],
            )
        )


async def _add_invoice(
    *,
    session: AsyncSession,
    ticket_id: int,
    booking: BookingView,
    draft: InvoiceDraft,
    settings: TicketSettings,
    now: datetime,
) -> None:
    """The GST invoice, numbered gaplessly within its financial year."""
    year = financial_year(now)
    serial = await _next_invoice_serial(session, year)
    first = booking.passengers[0] if booking.passengers else None
    session.add(
        Invoice(
            ticket_id=ticket_id,
            number=invoice_number(settings.invoice_prefix, year, serial),
            financial_year=year,
            lines=draft.lines,
            base=draft.base,
            gst=draft.gst,
            fees=draft.fees,
            discount=draft.discount,
            total=draft.total,
            total_in_words=draft.total_in_words,
            currency=draft.currency,
            seller={
                "name": settings.invoice_seller_name,
                "gstin": settings.invoice_seller_gstin,
                "address": settings.invoice_seller_address,
            },
            billed_to={
                "userId": booking.user_id,
                "name": first.name if first else None,
                "email": first.email if first else None,
            },
            issued_at=now,
        )
    )


async def generate_ticket(
    *,
    session: AsyncSession,
    bookings: BookingClient,
    settings: TicketSettings,
    user: Principal,
    booking_id: int,
) -> tuple[Ticket, bool]:
    """The caller's booking's ticket: issued now (created) or the one issued before."""
    # Usually the booking.confirmed consumer has issued it already: then the caller's own
    # live ticket answers without asking the booking service (a void one: the booking says).
    async with autocommit(session):
        existing = await _ticket_of_booking(session, booking_id)
    if existing is not None and existing.user_id == user.user_id and existing.status == ISSUED:
        return existing, False
    booking = await bookings.get_booking(booking_id)
    if booking.user_id != user.user_id:
        raise BookingNotFound(f"Booking {booking_id} not found")
    if not booking.confirmed:
        raise BookingNotConfirmed(
            f"Booking {booking.reference} is {booking.status.lower()}, not confirmed",
            bookingStatus=booking.status,
        )
    async with session.begin():
        return await issue_ticket(session=session, booking=booking, settings=settings)


async def get_ticket(*, session: AsyncSession, ticket_id: int, user: Principal) -> Ticket:
    """The caller's ticket; someone else's is as absent as a missing one."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.user_id != user.user_id:
        raise TicketNotFound(f"Ticket {ticket_id} not found")
    return ticket


async def list_tickets(
    *, session: AsyncSession, user: Principal, booking_id: int | None, limit: int
) -> list[Ticket]:
    """The caller's tickets, newest first (optionally of one booking)."""
    query = select(Ticket).where(Ticket.user_id == user.user_id)
    if booking_id is not None:
        query = query.where(Ticket.booking_id == booking_id)
    return list((await session.scalars(query.order_by(Ticket.id.desc()).limit(limit))).all())


async def void_booking_ticket(
    *, session: AsyncSession, booking_id: int, reason: str | None
) -> Ticket | None:
    """The booking was cancelled: void its ticket (if any), and never issue one after.

    Runs in the caller's transaction; returns the ticket it voided.
    """
    await _lock_booking(session, booking_id)
    await session.execute(
        pg_insert(BookingCancellation)
        .values(booking_id=booking_id, reason=reason)
        .on_conflict_do_nothing(index_elements=[BookingCancellation.booking_id])
    )
    voided_id = await session.scalar(
        update(Ticket)
        .where(Ticket.booking_id == booking_id, Ticket.status == ISSUED)
        .values(status=VOID, voided_at=clock.utcnow(), void_reason=reason)
        .returning(Ticket.id)
    )
    if voided_id is None:
        return None
    ticket = await session.get_one(Ticket, voided_id, populate_existing=True)
    await publish(
        session,
        outbox,
        TicketVoided(
            ticket_id=ticket.id,
            booking_id=ticket.booking_id,
            reference=ticket.reference,
            user_id=ticket.user_id,
            ticket_numbers=[c.ticket_number for c in ticket.coupons],
            reason=reason,
        ),
    )
    log.info("ticket %s voided: booking %s cancelled", ticket.id, ticket.reference)
    return ticket


# Event handlers (run by the consumer, in its transaction) ----------------------------------


async def on_booking_confirmed(
    event: Event, session: AsyncSession, *, bookings: BookingClient, settings: TicketSettings
) -> None:
    """`booking.confirmed`: issue the ticket (the traveller's generate then returns it).

    The event carries the confirmed booking; an event from before it did is answered by
    fetching the booking. A cancellation after the confirmation voids the ticket, or (handled
    first) keeps it from being issued.
    """
    confirmed = BookingConfirmed.of(event)
    booking_id = confirmed.booking_id
    booking = booking_from_event(confirmed)
    if booking is None:
        try:
            booking = await bookings.get_booking(booking_id)
        except BookingNotFound:
            log.warning("booking.confirmed for booking %s, which does not exist", booking_id)
            return
    if not booking.confirmed:
        log.info("booking %s is %s now: no ticket", booking.reference, booking.status)
        return
    try:
        await issue_ticket(session=session, booking=booking, settings=settings)
    except BookingNotConfirmed:
        log.info("booking %s was cancelled meanwhile: no ticket", booking.reference)


async def on_booking_cancelled(event: Event, session: AsyncSession) -> None:
    """`booking.cancelled`: void the booking's ticket."""
    cancelled = BookingCancelled.of(event)
    await void_booking_ticket(
        session=session,
        booking_id=cancelled.booking_id,
        reason=cancelled.reason[:200] if cancelled.reason else "BOOKING_CANCELLED",
    )
