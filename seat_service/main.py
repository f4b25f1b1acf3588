"""The seat service app: routes, plus the outbox relay, the `flight.*` consumer and the hold
sweeper running for the app's lifetime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from seat_service import service
from seat_service.api import internal, router
from seat_service.config import SeatSettings, get_settings
from seat_service.flights import on_flight_cancelled, on_flight_created
from seat_service.holds import HoldStore
from seat_service.models import outbox, processed_events
from shared.app import create_app
from shared.background import every, running
from shared.events import EventConsumer, OutboxRelay
from shared.http import ServiceClient


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: SeatSettings = state.settings
    state.holds = HoldStore(state.redis, state.keys)
    # Tests may serve the flight search service in-process via `flight_search_transport`.
    state.flight_search = ServiceClient(
        name="flight-search",
        base_url=settings.flight_search_url,
        tokens=state.service_tokens,
        timeout=settings.http_timeout_seconds,
        retries=settings.http_retries,
        transport=getattr(state, "flight_search_transport", None),
    )
    state.relay = OutboxRelay(
        sessionmaker=state.db.sessionmaker,
        redis=state.redis,
        keys=state.keys,
        outbox=outbox,
        source=settings.service_name,
        poll_seconds=settings.outbox_poll_seconds,
    )
    consumer = EventConsumer(
        sessionmaker=state.db.sessionmaker,
        redis=state.redis,
        keys=state.keys,
        processed=processed_events,
        group="seat",
        handlers={"flight.created": on_flight_created, "flight.cancelled": on_flight_cancelled},
        block_ms=settings.consumer_block_ms,
        reclaim_idle_ms=settings.consumer_reclaim_idle_ms,
        max_deliveries=settings.consumer_max_deliveries,
    )
    state.consumer = consumer

    async def sweep() -> None:
        async with state.db.sessionmaker() as session:
            await service.sweep_expired_holds(session=session, holds=state.holds)

    try:
        async with running(
            state.relay.run(),
            consumer.run(),
            every(settings.hold_sweep_seconds, sweep, name="hold-sweeper"),
        ):
            yield
    finally:
        await state.flight_search.aclose()


def build_app(settings: SeatSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or get_settings(),
        title="Seat inventory service",
        description="Seat maps, race-free seat holds (Redis) and sold seats (Postgres).",
        routers=[router, internal],
        lifespan=lifespan,
    )


app = build_app()
