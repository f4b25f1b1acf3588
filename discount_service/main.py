"""The discount service's app: routes, the outbox relay and the booking-event consumer.

Tests wire the booking service in-process by setting `app.state.transports`
({"booking": transport}) before the lifespan starts.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from discount_service.api import router
from discount_service.clients import Clients
from discount_service.config import DiscountSettings, get_settings
from discount_service.consumers import GROUP, booking_event_handlers
from discount_service.guesses import CodeGuesses
from discount_service.models import outbox, processed_events
from shared.app import create_app
from shared.background import background
from shared.events import consumer_for, relay_for


def build_app(settings: DiscountSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.clients = Clients(state)
        state.code_guesses = CodeGuesses(
            state.redis,
            state.keys,
            limit=settings.discount_failed_attempt_limit,
            window_seconds=settings.discount_failed_attempt_window_seconds,
        )
        state.relay = relay_for(state, outbox)
        state.consumer = consumer_for(
            state, processed=processed_events, handlers=booking_event_handlers(), group=GROUP
        )
        loops = (state.relay.run, state.consumer.run)
        async with background(settings, *loops, closing=[state.clients]):
            yield

    return create_app(
        settings=settings,
        title="Discount service",
        description="Discount codes: apply to a pending booking (counted once), admin creation.",
        routers=[router],
        lifespan=lifespan,
    )


app = build_app()
