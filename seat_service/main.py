"""The seat service app: routes, plus the outbox relay, the `flight.*` consumer and the hold
sweeper running for the app's lifetime."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from seat_service.api import internal, router
from seat_service.config import SeatSettings, get_settings
from seat_service.flights import FlightDirectory, batch_handlers, event_handlers
from seat_service.holds import HoldStore
from seat_service.models import outbox, processed_events
from seat_service.scheduled import hold_sweeper
from seat_service.state import Seats
from shared.app import create_app
from shared.background import background
from shared.events import consumer_for, relay_for
from shared.http import service_client


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: SeatSettings = state.settings
    state.holds = HoldStore(state.redis, state.keys)
    state.flight_search = service_client(state, "flight-search")
    state.flight_directory = FlightDirectory(
        client=state.flight_search, ttl_seconds=settings.flight_cache_seconds
    )
    state.relay = relay_for(state, outbox)
    state.consumer = consumer = consumer_for(
        state,
        processed=processed_events,
        handlers=event_handlers(directory=state.flight_directory, holds=state.holds),
        batch_handlers=batch_handlers(directory=state.flight_directory),
        batch_size=settings.flight_event_batch,
    )
    state.seats = Seats(state.db, state.holds, state.flight_directory, settings, state.relay)

    sweeper = functools.partial(
        hold_sweeper,
        sessionmaker=state.db.sessionmaker,
        holds=state.holds,
        seconds=settings.hold_sweep_seconds,
    )
    loops = (state.relay.run, consumer.run, sweeper)
    async with background(settings, *loops, closing=[state.flight_search]):
        yield


def build_app(settings: SeatSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or get_settings(),
        title="Seat inventory service",
        description="Seat maps, race-free seat holds (Redis) and sold seats (Postgres).",
        routers=[router, internal],
        lifespan=lifespan,
    )


app = build_app()
