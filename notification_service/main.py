"""The notification service's app: routes, and the loops that live with it.

Loops: the event consumer (queues an email and an SMS per event), the dispatcher (delivers
queued notifications through the mock sender) and the outbox relay (notification.sent/failed).
`app.state.sender` may be set before the lifespan starts (tests record deliveries).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from notification_service.api import router
from notification_service.config import NotificationSettings, get_settings
from notification_service.consumers import build_consumer
from notification_service.dispatcher import Dispatcher
from notification_service.models import outbox
from notification_service.send_quota import SendQuota
from notification_service.sender import MockSender
from shared.app import create_app
from shared.background import background
from shared.events import relay_for


def build_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        sessionmaker = state.db.sessionmaker
        if getattr(state, "sender", None) is None:
            state.sender = MockSender()
        state.dispatcher = Dispatcher(
            sessionmaker=sessionmaker,
            sender=state.sender,
            interval=settings.notification_dispatch_seconds,
            max_attempts=settings.notification_max_attempts,
        )
        state.consumer = build_consumer(
            sessionmaker=sessionmaker,
            redis=state.redis,
            keys=state.keys,
            settings=settings,
            on_queued=state.dispatcher.wake,
        )
        state.relay = relay_for(state, outbox)
        state.send_quota = SendQuota(
            state.redis,
            state.keys,
            limit=settings.notification_send_limit,
            admin_limit=settings.notification_admin_send_limit,
            window_seconds=settings.notification_send_window_seconds,
        )
        loops = (state.consumer.run, state.dispatcher.run, state.relay.run)
        async with background(settings, *loops):
            yield

    return create_app(
        settings=settings,
        title="Notification service",
        description="Mock email and SMS to travellers, from every service's events.",
        routers=[router],
        lifespan=lifespan,
    )


app = build_app()
