from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from flight_search_service.airports import AirportDirectory
from flight_search_service.api import internal, router
from flight_search_service.cache import SearchCache
from flight_search_service.config import FlightSearchSettings, get_settings
from flight_search_service.consumers import GROUP, seat_event_handlers
from flight_search_service.models import outbox, processed_events
from shared.app import create_app
from shared.background import background
from shared.events import consumer_for, relay_for


def build_app(settings: FlightSearchSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.airports = AirportDirectory(state.db.sessionmaker)
        state.search_cache = SearchCache(
            state.redis, state.keys, ttl_seconds=settings.search_cache_ttl_seconds
        )
        # flight.created / flight.cancelled leave through the outbox ...
        state.relay = relay_for(state, outbox)
        # ... and the seat service's availability events come in here.
        state.consumer = consumer_for(
            state,
            processed=processed_events,
            handlers=seat_event_handlers(cache=state.search_cache),
            group=GROUP,
        )
        async with background(settings, state.relay.run, state.consumer.run):
            yield

    return create_app(
        settings=settings,
        title="Flight search service",
        description="Direct and one-stop flight search over the flight catalog.",
        routers=[router, internal],
        lifespan=lifespan,
    )


app = build_app()
