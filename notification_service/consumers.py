"""The events the notification service turns into messages (consumer group "notification").

booking.confirmed, booking.cancelled, booking.expired (booking service); payment.failed,
payment.refunded (payment service); ticket.issued (ticket service). A flight's cancellation
reaches its travellers as each booking's own booking.cancelled (reason FLIGHT_CANCELLED). Each
event is read with its contract (`shared.contracts.parse_event`; one
this code cannot read fails, and is retried and then dead-lettered like any failing event) and
queues one email and one SMS, exactly once: the consumer records the event id with the
notifications in one transaction, and (event_id, channel) is unique.
"""

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notification_service import service
from notification_service.models import processed_events
from notification_service.templates import TEMPLATES
from shared.contracts import parse_event
from shared.events import Event, EventConsumer, Handler
from shared.redis import Keys, RedisClient

GROUP = "notification"
EVENT_TYPES = tuple(TEMPLATES)


def handlers(*, on_queued: Callable[[], object] | None = None) -> dict[str, Handler]:
    """One handler for every event type with a template; `on_queued` runs after the commit of
    an event that queued notifications (to wake the dispatcher)."""

    async def handle(event: Event, session: AsyncSession) -> None:
        contract = parse_event(event)
        queued = await service.record_event(session=session, event_id=event.id, event=contract)
        if queued and on_queued is not None:
            asyncio.get_running_loop().call_later(0.05, on_queued)  # after the commit

    return dict.fromkeys(EVENT_TYPES, handle)


def build_consumer(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: RedisClient,
    keys: Keys,
    settings: Any,
    on_queued: Callable[[], object] | None = None,
    **options: Any,
) -> EventConsumer:
    """The service's consumer (tests build more, with their own name and options)."""
    kwargs: dict[str, Any] = {
        "block_ms": settings.consumer_block_ms,
        "reclaim_idle_ms": settings.consumer_reclaim_idle_ms,
        "max_deliveries": settings.consumer_max_deliveries,
        **options,
    }
    return EventConsumer(
        sessionmaker=sessionmaker,
        redis=redis,
        keys=keys,
        processed=processed_events,
        group=GROUP,
        handlers=handlers(on_queued=on_queued),
        **kwargs,
    )
