"""The payment service's app: routes, the outbox relay and the saga recovery loop.

Tests wire the booking service in-process by setting `app.state.transports`
({"booking": transport}) before the lifespan starts.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from payment_service import recovery
from payment_service.api import internal, router
from payment_service.card_gateway import CardGateway
from payment_service.clients import Clients
from payment_service.config import PaymentSettings, get_settings
from payment_service.models import outbox
from shared.app import create_app
from shared.background import Periodic, background
from shared.events import relay_for


def build_app(settings: PaymentSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.clients = Clients(state)
        state.gateway = CardGateway(state.db.sessionmaker)
        # Idempotency-Key requests are compared by a hash keyed with this (derived once).
        state.idempotency_hash_key = state.service_identity.derived_secret("idempotency")
        state.relay = relay_for(state, outbox)

        async def recover() -> int:
            return await recovery.recover_once(
                sessionmaker=state.db.sessionmaker,
                clients=state.clients,
                gateway=state.gateway,
                stuck_after_seconds=settings.payment_stuck_after_seconds,
            )

        state.recover = recover
        recovery_loop = Periodic(
            recover, interval=settings.payment_recovery_seconds, name="payment-recovery"
        )
        loops = (state.relay.run, recovery_loop.run)
        async with background(settings, *loops, closing=[state.clients]):
            yield

    return create_app(
        settings=settings,
        title="Payment service",
        description="Payments through the mock card gateway, refunds, idempotency.",
        routers=[router, internal],
        lifespan=lifespan,
    )


app = build_app()
