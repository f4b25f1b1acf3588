"""The booking service's app: routes, and the loops that live with it.

Loops: the outbox relay (booking.* events to Redis Streams), the `flight.cancelled` consumer,
and the sweeper (expires unpaid bookings, finishes interrupted cancellations).
Tests wire other services in-process by setting `app.state.transports` ({"seat": transport,
...}) before the lifespan starts.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from booking_service import lifecycle
from booking_service.api import internal, router
from booking_service.clients import Clients
from booking_service.config import BookingSettings, get_settings
from booking_service.models import outbox, processed_events
from shared.app import create_app
from shared.background import Periodic, background
from shared.contracts.flights import FlightCancelled
from shared.events import Event, consumer_for, relay_for


def build_app(settings: BookingSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.clients = Clients(state)
        sessionmaker = state.db.sessionmaker

        async def sweep() -> object:
            return await lifecycle.sweep_once(sessionmaker=sessionmaker, clients=state.clients)

        sweeper = Periodic(sweep, interval=settings.booking_sweep_seconds, name="booking-sweep")

        async def flight_cancelled(event: Event, session: AsyncSession) -> None:
            await lifecycle.on_flight_cancelled(event, session)
            asyncio.get_running_loop().call_later(0.1, sweeper.wake)  # after the commit

        state.relay = relay_for(state, outbox)
        state.consumer = consumer_for(
            state, processed=processed_events, handlers={FlightCancelled.type: flight_cancelled}
        )
        state.sweeper = sweeper
        loops = (state.relay.run, state.consumer.run, sweeper.run)
        async with background(settings, *loops, closing=[state.clients]):
            yield

    return create_app(
        settings=settings,
        title="Booking service",
        description="Bookings from held seats, their lifecycle and fares.",
        routers=[router, internal],
        lifespan=lifespan,
    )


app = build_app()
