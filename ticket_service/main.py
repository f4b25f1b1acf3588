"""The ticket service's app: routes, and the loops that live with it.

Loops: the outbox relay (ticket.* events to Redis Streams) and the consumer of the booking
events (`booking.confirmed` issues the ticket, `booking.cancelled` voids it).
Tests wire the booking service in-process by setting `app.state.transports`
({"booking": transport}) before the lifespan starts.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import create_app
from shared.background import background
from shared.contracts.bookings import BookingCancelled, BookingConfirmed
from shared.events import Event, consumer_for, relay_for
from ticket_service import airports, service
from ticket_service.api import router
from ticket_service.clients import Clients
from ticket_service.config import TicketSettings, get_settings
from ticket_service.models import outbox, processed_events


def build_app(settings: TicketSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        if getattr(state, "clients", None) is None:
            state.clients = Clients(state)
        clients = state.clients
        await to_thread.run_sync(airports.load)

        async def booking_confirmed(event: Event, session: AsyncSession) -> None:
            await service.on_booking_confirmed(
                event, session, bookings=clients.bookings, settings=settings
            )

        state.relay = relay_for(state, outbox)
        state.consumer = consumer_for(
            state,
            processed=processed_events,
            handlers={
                BookingConfirmed.type: booking_confirmed,
                BookingCancelled.type: service.on_booking_cancelled,
            },
        )
        loops = (state.relay.run, state.consumer.run)
        async with background(settings, *loops, closing=[clients]):
            yield

    return create_app(
        settings=settings,
        title="Ticket service",
        description="E-tickets with 13-digit ticket numbers, GST invoices, and their PDF.",
        routers=[router],
        lifespan=lifespan,
    )


app = build_app()
