"""Notification service fixtures: the app (real JWKS, recording sender) and event helpers."""

import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text

from notification_service.config import NotificationSettings
from notification_service.main import build_app
from notification_service.models import Notification
from notification_service.sender import MockSender
from shared.contracts import EventPayload
from shared.contracts.bookings import BookingEvent, FareAmounts, SeatRef
from shared.contracts.tickets import TicketIssued
from shared.events import Event, stream_for
from tests.booking_service.harness import jwks_transport  # noqa: F401 (fixture)
from tests.conftest import REDIS_PREFIX, app_client
from tests.helpers import bearer

_user_ids = itertools.count(81_001)
B = TypeVar("B", bound=BookingEvent)


class RecordingSender(MockSender):
    """The mock sender, counting what it delivered (a notification must never go twice)."""

    def __init__(self) -> None:
        self.delivered: Counter[int] = Counter()

    async def send(self, notification: Notification) -> None:
        await super().send(notification)
        self.delivered[notification.id] += 1


class FailingSender:
    def __init__(self) -> None:
        self.calls = 0

    async def send(self, notification: Notification) -> None:
        self.calls += 1
        raise ConnectionError("SMTP relay unreachable")


def make_event(contract: EventPayload, event_id: uuid.UUID | None = None) -> Event:
    """The event a producer writes for `contract` (its type, version and payload)."""
    return Event(
        id=event_id or uuid.uuid4(),
        type=contract.type,
        source="test",
        occurred_at=datetime.now(UTC),
        payload=contract.payload(),
        version=contract.version,
    )


def raw_event(type: str, **payload: Any) -> Event:
    """An event whose payload no contract vouches for (a producer's bug, say)."""
    return Event(
        id=uuid.uuid4(), type=type, source="test", occurred_at=datetime.now(UTC), payload=payload
    )


def booking_event(
    contract: type[B], *, user_id: int, booking_id: int, reference: str, **extra: Any
) -> B:
    """A `booking.*` event of a one-seat booking (61001 12A, Asha Rao, INR 4674.00)."""
    total = Decimal("4674.00")
    return contract.model_validate(
        {
            "booking_id": booking_id,
            "reference": reference,
            "user_id": user_id,
            "status": "CONFIRMED",
            "flight_ids": [61001],
            "seats": [SeatRef(flight_id=61001, seat_number="12A")],
            "passengers": ["Asha Rao"],
            "fare": FareAmounts(
                base=Decimal("4400.00"),
                taxes=Decimal("224.00"),
                fees=Decimal("150.00"),
                discount=Decimal("100.00"),
                total=total,
            ),
            "amount_due": total,
            "currency": "INR",
            **extra,
        }
    )


def ticket_issued(*, user_id: int, booking_id: int, **extra: Any) -> TicketIssued:
    """A `ticket.issued` event of a one-passenger, one-flight ticket."""
    return TicketIssued.model_validate(
        {
            "ticket_id": 31,
            "booking_id": booking_id,
            "reference": f"R{booking_id % 100000:05d}",
            "user_id": user_id,
            "ticket_numbers": ["0982345678901"],
            "passengers": ["Asha Rao"],
            "flight_numbers": ["AI101"],
            "invoice_number": "FB/2026-27/000042",
            "total": Decimal("4674.00"),
            "currency": "INR",
            "pdf_url": "/api/tickets/31/pdf",
            **extra,
        }
    )


async def publish(redis: Redis, keys: Any, event: Event) -> str:
    """Put the event on its stream, as a producer's outbox relay does."""
    return await redis.xadd(stream_for(keys, event.type), event.to_fields())


@dataclass
class Notifications:
    app: FastAPI
    client: httpx.AsyncClient
    sender: RecordingSender
    token: Callable[..., str]

    def user(self, role: str = "user") -> tuple[int, dict[str, str]]:
        """A fresh user id and its Authorization header."""
        user_id = next(_user_ids)
        return user_id, bearer(self.token(user_id, role=role))

    async def publish(self, event: Event) -> str:
        """Onto the app's own streams (see the fixture: no other service reads them)."""
        return await publish(self.app.state.redis, self.app.state.keys, event)

    async def mine(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        r = await self.client.get("/api/notifications", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def of_event(self, event_id: uuid.UUID) -> list[Any]:
        async with self.app.state.db.engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT id, channel, status, user_id FROM notifications.notifications "
                    "WHERE event_id = :e ORDER BY channel"
                ),
                {"e": event_id},
            )
            return list(result)


@pytest.fixture(scope="session")
async def notifications(
    jwks_transport: httpx.AsyncBaseTransport,  # noqa: F811
    make_token: Callable[..., str],
) -> AsyncIterator[Notifications]:
    # Its own Redis namespace (inside the run's, so it is cleaned up with it): the test events
    # published for it must not reach the other services' consumers in this run.
    app = build_app(
        NotificationSettings(
            db_pool_size=2,
            db_max_overflow=4,
            notification_dispatch_seconds=0.2,
            redis_prefix=f"{REDIS_PREFIX}notification-tests:",
        )
    )
    app.state.jwks_transport = jwks_transport
    sender = RecordingSender()
    app.state.sender = sender
    async for client in app_client(app):
        yield Notifications(app, client, sender, make_token)
